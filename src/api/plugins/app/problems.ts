// One error handler and one not-found handler, so that every error leaves as application/problem+json.
// 4xx details are the client's own mistake and safe to show; 5xx details stay in the log.
import fp from "fastify-plugin";
import type { FastifyError } from "fastify";
import { PROBLEM_CONTENT_TYPE, problemFor, toProblem } from "../../problem.js";
import { ProblemSchema } from "../../../contract/api/problem.js";

export default fp(
  async (app) => {
    app.addSchema(ProblemSchema);

    app.setErrorHandler<FastifyError>((err, req, reply) => {
      const problem = toProblem(err, req);
      if (problem.status >= 500) req.log.error({ err, method: req.method, url: req.url }, "request failed");
      else req.log.info({ err: { message: err.message, code: err.code } }, "request rejected");
      // refused before its body was read (an upload cut short): the unread bytes would be taken for the next
      // request on this keep-alive connection, so it closes after this answer
      if (!req.raw.complete) reply.header("connection", "close");
      return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
    });

    app.setNotFoundHandler((req, reply) => {
      const problem = problemFor(404, `no route ${req.method} ${req.url.split("?", 1)[0]}`, req);
      return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(problem);
    });
  },
  { name: "problems" },
);
