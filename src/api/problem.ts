// RFC 9457 problem details: every error the API sends has this shape and media type.
// Handlers throw HttpProblem for errors whose detail is meant for the client; anything else that is not a
// 4xx becomes a bare 500 whose detail never carries internals (the log has them, joined by request_id).
import { STATUS_CODES } from "node:http";
import type { FastifyError, FastifyRequest } from "fastify";
import type { Problem, ProblemFieldError } from "../contract/api/problem.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** problem types beyond about:blank; each names one kind of failure clients may branch on */
export const PROBLEM_TYPES = {
  validation: "urn:maskforge:problem:validation",
  notReady: "urn:maskforge:problem:not-ready",
} as const;

export class HttpProblem extends Error {
  readonly statusCode: number;
  constructor(
    status: number,
    readonly detail: string,
    readonly extra: { type?: string; title?: string; errors?: ProblemFieldError[]; [member: string]: unknown } = {},
  ) {
    super(detail);
    this.name = "HttpProblem";
    this.statusCode = status;
  }
}

export function titleOf(status: number): string {
  return STATUS_CODES[status] ?? "Error";
}

/** the path the problem occurred on (the query string may carry secrets such as presigned tokens) */
function instanceOf(req: FastifyRequest): string {
  return req.url.split("?", 1)[0];
}

/** Fastify's validation errors (Ajv) as RFC 9457 `errors` members, with a JSON pointer into the request part. */
function fieldErrors(err: FastifyError): ProblemFieldError[] {
  return (err.validation ?? []).map((v) => {
    const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
    const pointer = missing ? `${v.instancePath}/${missing}` : v.instancePath;
    return { location: err.validationContext ?? "request", pointer: pointer || "/", detail: v.message ?? "is invalid" };
  });
}

export function problemFor(status: number, detail: string, req: FastifyRequest, extra: HttpProblem["extra"] = {}): Problem {
  const { type, title, ...members } = extra;
  return {
    ...members,
    type: type ?? "about:blank",
    title: title ?? titleOf(status),
    status,
    detail,
    instance: instanceOf(req),
    request_id: req.id,
  };
}

/** Maps any error to the problem sent to the client. */
export function toProblem(err: FastifyError | HttpProblem | Error, req: FastifyRequest): Problem {
  if (err instanceof HttpProblem) return problemFor(err.statusCode, err.detail, req, err.extra);
  const fe = err as FastifyError;
  if (fe.validation) {
    return problemFor(400, `invalid request: ${fe.message}`, req, { type: PROBLEM_TYPES.validation, errors: fieldErrors(fe) });
  }
  const status = typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode <= 599 ? fe.statusCode : 500;
  if (status < 500) return problemFor(status, fe.message, req);
  return problemFor(status, `the server could not complete the request; quote request_id ${req.id} when reporting it`, req);
}
