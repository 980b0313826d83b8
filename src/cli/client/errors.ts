// Errors of the API client. Each carries the exit code the CLI ends with and a message that says what to do,
// built from the problem+json body the API sent (RFC 9457: title, detail, errors[]).
import type { Problem as ApiProblem } from "../../contract/api/problem.js";
import { EXIT, type ExitCode } from "./exit-codes.js";

/**
 * An error answer: the API's RFC 9457 problem (members beyond the schema's are kept), or what the client makes
 * of a body that is not one (a proxy's page: status, title and the start of the text), hence every member optional.
 */
export type Problem = Partial<ApiProblem> & { [member: string]: unknown };

/** A failure the CLI reports and exits on; `exitCode` is one of EXIT. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failure,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status >= 500) return EXIT.unavailable;
  return EXIT.failure;
}

function hintFor(status: number, apiUrl: string): string | undefined {
  if (status === 401) return "pass --api-key mf_... or set MASKFORGE_API_KEY (an admin creates keys with `maskforge keys create`)";
  if (status === 403) return "this key may not do that; use a key of the tenant that owns the resource";
  if (status === 413) return "the upload is over the server's limit (MAX_UPLOAD_FILE_BYTES / MAX_UPLOAD_TOTAL_BYTES)";
  if (status === 429) return "too many requests: wait a minute and try again";
  if (status === 503) return `the API at ${apiUrl} is not ready (database, Redis or storage down): check GET ${apiUrl}/readyz`;
  return undefined;
}

/** The API answered with an error status; the message lists the problem's detail and every field error. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly method: string,
    readonly url: string,
    apiUrl: string,
  ) {
    const lines = [`${method} ${new URL(url).pathname} failed: ${status} ${problem.title ?? ""}`.trimEnd()];
    if (problem.detail) lines.push(`  ${problem.detail}`);
    for (const e of problem.errors ?? []) lines.push(`  - ${e.pointer} ${e.detail}`.trimEnd());
    const hint = hintFor(status, apiUrl);
    if (hint) lines.push(`  hint: ${hint}`);
    if (problem.request_id) lines.push(`  request id: ${problem.request_id}`);
    super(lines.join("\n"), exitCodeForStatus(status));
    this.name = "ApiError";
  }
}

/** The API could not be reached at all (refused, DNS, timeout). */
export class UnreachableError extends CliError {
  constructor(apiUrl: string, cause: unknown) {
    const code = (cause as { cause?: { code?: string } })?.cause?.code ?? (cause as { code?: string })?.code;
    super(
      `cannot reach the maskforge API at ${apiUrl}${code ? ` (${code})` : ""}\n` +
        `  hint: start it with \`npx maskforge serve\` (or \`npm run dev\`), or point --api-url / MASKFORGE_API_URL at a running one`,
      EXIT.unavailable,
    );
    this.name = "UnreachableError";
    this.cause = cause;
  }
}
