// GET /metrics for Prometheus: jobs by status (Postgres), queue depth by state (BullMQ) and the mean duration
// of each pipeline stage over the last day (from the workers' stage-timing events). Everything is read at
// scrape time, so every API replica reports the same figures; the route is kept out of the OpenAPI document.
import type { FastifyPluginAsync } from "fastify";
import { Gauge, Registry } from "prom-client";
import { JOB_STATUSES } from "../../contract/status.js";
import { withDeadline } from "../deadline.js";

const metricsRoutes: FastifyPluginAsync = async (app) => {
  const registry = new Registry();
  const jobs = new Gauge({ name: "maskforge_jobs", help: "jobs by status", labelNames: ["status"], registers: [registry] });
  const queue = new Gauge({ name: "maskforge_queue_jobs", help: "BullMQ jobs of the prune queue by state", labelNames: ["state"], registers: [registry] });
  const stageMean = new Gauge({ name: "maskforge_stage_seconds_mean", help: "mean pipeline stage duration over the last 24 h", labelNames: ["stage"], registers: [registry] });
  const stageCount = new Gauge({ name: "maskforge_stage_runs", help: "stage runs timed over the last 24 h", labelNames: ["stage"], registers: [registry] });
  const up = new Gauge({ name: "maskforge_metrics_source_up", help: "1 when the source answered this scrape", labelNames: ["source"], registers: [registry] });

  app.get("/metrics", { schema: { hide: true } }, async (_req, reply) => {
    const [db, redis] = await Promise.allSettled([
      (async () => {
        const counts = await app.jobs.countByStatus();
        for (const s of JOB_STATUSES) jobs.set({ status: s }, counts.get(s) ?? 0);
        const stages = await app.jobs.stageTimings();
        stageMean.reset();
        stageCount.reset();
        for (const s of stages) {
          stageMean.set({ stage: s.stage }, Number(s.mean));
          stageCount.set({ stage: s.stage }, Number(s.n));
        }
      })(),
      withDeadline(() => app.queues.prune.getJobCounts("waiting", "active", "delayed", "failed", "completed", "prioritized"), 1500).then((c) => {
        for (const [state, n] of Object.entries(c)) queue.set({ state }, n);
      }),
    ]);
    up.set({ source: "postgres" }, db.status === "fulfilled" ? 1 : 0);
    up.set({ source: "redis" }, redis.status === "fulfilled" ? 1 : 0);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
};

export default metricsRoutes;
