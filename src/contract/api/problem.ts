// The RFC 9457 problem schema, registered once under $id "Problem" so every route's error responses
// reference the same OpenAPI component.
import { Type, type Static, type TSchema } from "typebox";

export const ProblemFieldErrorSchema = Type.Object({
  location: Type.String({ description: "request part: body, querystring, params or headers" }),
  pointer: Type.String({ description: "JSON pointer into that part" }),
  detail: Type.String(),
});

export const problemProperties = {
  type: Type.String({ description: "URI naming the problem type; about:blank when the status says it all" }),
  title: Type.String({ description: "short summary of the problem type" }),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  detail: Type.String({ description: "what went wrong with this request" }),
  instance: Type.String({ description: "path of the request that failed" }),
  request_id: Type.String({ description: "id of the request, as in the x-request-id response header and the server logs" }),
  errors: Type.Optional(Type.Array(ProblemFieldErrorSchema, { description: "one entry per invalid field (validation errors)" })),
};

export const ProblemSchema = Type.Object(problemProperties, {
  $id: "Problem",
  title: "Problem",
  description: "RFC 9457 problem details",
});

export type Problem = Static<typeof ProblemSchema>;
export type ProblemFieldError = Static<typeof ProblemFieldErrorSchema>;

/** a response entry served as application/problem+json (Fastify serializes by the reply's content type) */
export function problemContent<S extends TSchema>(schema: S) {
  return { content: { "application/problem+json": { schema } } };
}

/** the response entry pointing at the shared Problem component */
export const ProblemResponse = problemContent(Type.Ref("Problem"));

/** `response` entries for the given error statuses, e.g. `response: { 200: X, ...problemResponses(400, 404) }` */
export function problemResponses<const S extends number>(...statuses: S[]): Record<S, typeof ProblemResponse> {
  return Object.fromEntries(statuses.map((s) => [s, ProblemResponse])) as Record<S, typeof ProblemResponse>;
}
