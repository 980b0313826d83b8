// The job reads of GET /v1/jobs/:id from memory: a JobReadCache kept fresh by Postgres LISTEN/NOTIFY (one
// dedicated connection per API process). While that connection is down the cache is off and every read goes
// to the database, so a lost notification can never leave a stale job behind. Routes that change a job
// themselves call evict() after the write, so a client reads its own writes at once rather than after the
// notification's round trip.
import fp from "fastify-plugin";
import { JobChangeListener, ALL_JOBS, type ReconnectDelays } from "../../../db/job-change-listener.js";
import { JobReadCache } from "../../../db/job-read-cache.js";
import { readJobWithResults, type JobWithResults } from "../../../db/job-reads.js";

export interface JobReads {
  /** the tenant's job with its results (null: missing or another tenant's) */
  read(tenantId: string, jobId: string): Promise<JobWithResults | null>;
  /** after this process changed the job: the next read goes to the database */
  evict(jobId: string): void;
  /** whether change notifications arrive (else the cache is bypassed) */
  readonly listening: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    jobReads: JobReads;
  }
}

export interface JobCacheOptions {
  /** open the LISTEN connection when the app is ready (false: reads always go to the database) */
  listen: boolean;
  reconnect?: ReconnectDelays;
}

export default fp<JobCacheOptions>(
  async (app, opts) => {
    const cache = new JobReadCache((tenantId, jobId) => readJobWithResults(app.pg, tenantId, jobId));
    let outage = false;
    const listener = new JobChangeListener(
      app.config.databaseUrl,
      {
        onChange: (jobId) => (jobId === ALL_JOBS ? cache.flush() : cache.invalidate(jobId)),
        onListening: () => {
          cache.enable();
          if (outage) app.log.info("job change notifications are back; job reads use the cache again");
          outage = false;
        },
        onLost: (err) => {
          cache.disable();
          // one line per outage, not one per reconnect attempt
          if (!outage) app.log.warn({ err }, "job change notifications lost; job reads go to the database until they are back");
          outage = true;
        },
      },
      opts.reconnect,
    );
    app.decorate("jobReads", {
      read: (tenantId: string, jobId: string) => cache.read(tenantId, jobId),
      evict: (jobId: string) => cache.invalidate(jobId),
      get listening() {
        return listener.listening;
      },
    });
    if (opts.listen) app.addHook("onReady", async () => listener.start());
    app.addHook("onClose", () => listener.stop());
  },
  { name: "job-cache", dependencies: ["prisma"] },
);
