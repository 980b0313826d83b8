// Probes: /healthz says the process serves requests (restart it if not); /readyz says its dependencies answer
// (take it out of the load balancer if not). Each readiness check has a short deadline so a hung dependency
// turns into a quick 503 rather than a probe timeout.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { DeadlineError, withDeadline } from "../deadline.js";
import { pingRedis } from "../plugins/external/queues.js";
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, problemFor } from "../problem.js";
import { CHECK_NAMES, LiveSchema, NotReadyResponse, ReadySchema, type CheckName, type Checks } from "../../contract/api/health.js";

export interface HealthRoutesOptions {
  /** deadline of each readiness check */
  readinessTimeoutMs: number;
}

const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, opts) => {
  const probes: Record<CheckName, () => Promise<unknown>> = {
    postgres: () => app.prisma.$queryRaw`SELECT 1`,
    redis: () => pingRedis(app.redis),
    storage: () => app.storage.ping(),
  };

  app.get(
    "/healthz",
    { schema: { tags: ["health"], summary: "Liveness: the process is up", response: { 200: LiveSchema } } },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["health"],
        summary: "Readiness: Postgres, Redis and the blob store answer",
        response: { 200: ReadySchema, 503: NotReadyResponse },
      },
    },
    async (req, reply) => {
      reply.header("cache-control", "no-store");
      const results = await Promise.all(
        CHECK_NAMES.map(async (name) => {
          try {
            await withDeadline(probes[name], opts.readinessTimeoutMs);
            return [name, "ok"] as const;
          } catch (err) {
            req.log.warn({ err, check: name }, "readiness check failed");
            return [name, err instanceof DeadlineError ? "timeout" : "failed"] as const;
          }
        }),
      );
      const checks = Object.fromEntries(results) as Checks;
      const failed = results.filter(([, r]) => r !== "ok").map(([name]) => name);
      if (failed.length === 0) return { status: "ready" as const, checks };
      const problem = problemFor(503, `not ready: ${failed.join(", ")}`, req, { type: PROBLEM_TYPES.notReady });
      return reply.code(503).type(PROBLEM_CONTENT_TYPE).send({ ...problem, checks });
    },
  );
};

export default healthRoutes;
