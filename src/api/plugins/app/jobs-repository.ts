// Jobs as the API reads and changes them: submitting (idempotency, the checks on what the spec refers to, the
// tenant's limit, the enqueue and its compensation), cancelling, deleting with the job's files, a job's events
// and metric series, the queue position, and the figures /metrics reports. The row functions the worker shares
// are src/db/jobs.repository.ts; the polled read of one job is the job cache's (app.jobReads).
import fp from "fastify-plugin";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Job, JobEvent } from "@prisma/client";
import { JOB_EVENT_TYPES } from "../../../contract/events.js";
import { datasetInput, parseDatasetRef } from "../../../contract/datasets.js";
import type { JobSpec } from "../../../contract/job-spec/schema.js";
import { pruneJob, QUEUE_NAMES } from "../../../contract/queues.js";
import { isFinal, type JobStatus } from "../../../contract/status.js";
import { generateWebhookSecret } from "../../../contract/webhook.js";
import { countActiveJobs, createJob, findIdempotentJob, getJob, listEvents, listJobs, requestCancel, requestHash, type ListJobsOptions } from "../../../db/jobs.repository.js";
import { withDeadline } from "../../deadline.js";
import { SingleFlightCache } from "../../single-flight-cache.js";

const QUEUE_DEADLINE_MS = 3000;
/** how old a queued job's position may be: clients poll, and many may poll the same job */
export const QUEUE_POSITION_MAX_AGE_MS = 500;
const QUEUE_POSITION_LUA = `local p = redis.call('LPOS', KEYS[1], ARGV[1]) if not p then return -1 end return redis.call('LLEN', KEYS[1]) - 1 - p`;

/** a spec field naming an object that cannot be used, as a JSON pointer into the spec */
export interface ReferenceError {
  pointer: string;
  detail: string;
}

export type SubmitResult =
  /** created and enqueued; replayed: the idempotency key's job (same body); conflict: the key's job, made from another body */
  | { outcome: "created" | "replayed" | "conflict"; job: Job }
  | { outcome: "invalid_references"; errors: ReferenceError[] }
  | { outcome: "too_many_jobs"; active: number; limit: number }
  /** the queue did not take it: the row was taken back, nothing was created */
  | { outcome: "queue_unavailable" };

export type CancelResult =
  | { outcome: "not_found" }
  | { outcome: "final"; status: JobStatus }
  /** the job after the change */
  | { outcome: "cancelled" | "cancel_requested" | "already_requested"; job: Job };

export type DeleteResult = { outcome: "deleted" } | { outcome: "not_found" } | { outcome: "not_final"; status: JobStatus };

export interface MetricSeries {
  jobId: string;
  points: { seq: number; step: number | null; at: string; values: Record<string, number> }[];
  series: string[];
}

export function createJobsRepository(app: FastifyInstance) {
  const waitKey = `${app.config.queuePrefix}:${QUEUE_NAMES.prune}:wait`;
  // concurrent polls of one job share one Redis call, and its answer for QUEUE_POSITION_MAX_AGE_MS
  const positions = new SingleFlightCache<number | null>(QUEUE_POSITION_MAX_AGE_MS);

  async function enqueue(jobId: string) {
    const j = pruneJob(jobId);
    await withDeadline(() => app.queues.prune.add(j.name, j.data, j.opts), QUEUE_DEADLINE_MS);
  }

  /** Ids the spec refers to must exist and belong to the tenant (another tenant's reads as missing). */
  async function referenceErrors(tenantId: string, spec: JobSpec): Promise<ReferenceError[]> {
    const errors: ReferenceError[] = [];
    if ("checkpoint_id" in spec.source) {
      const c = await app.checkpoints.get(tenantId, spec.source.checkpoint_id);
      if (!c) errors.push({ pointer: "/source/checkpoint_id", detail: "no such checkpoint; upload one with POST /v1/checkpoints" });
      else if (c.status !== "ready") errors.push({ pointer: "/source/checkpoint_id", detail: `the checkpoint is ${c.status}, not ready` });
    }
    if (spec.method === "maskllm" && typeof spec.prior === "object") {
      if (!(await app.masks.get(tenantId, spec.prior.mask_id))) errors.push({ pointer: "/prior/mask_id", detail: "no such mask" });
    }
    const refs = [{ d: spec.calibration.dataset, at: "/calibration/dataset" }, ...spec.eval.datasets.map((item, i) => ({ d: datasetInput(item).dataset, at: `/eval/datasets/${i}` }))];
    const files = refs.flatMap(({ d, at }) => {
      const r = typeof d === "string" ? parseDatasetRef(d) : undefined;
      return r?.kind === "file" ? [{ id: r.id, at }] : [];
    });
    if (files.length > 0) {
      const found = await app.files.existing(tenantId, files.map((f) => f.id));
      for (const f of files) if (!found.has(f.id)) errors.push({ pointer: f.at, detail: `no such file file:${f.id}; upload it with POST /v1/files` });
    }
    return errors;
  }

  return {
    /**
     * Submits a parsed spec. With an idempotency key, a key used before answers with its job (replayed, or a
     * conflict when the body differs) before anything else is checked; a queued replay is enqueued again, in
     * case the first enqueue was lost (BullMQ dedups by id). A created job the queue does not take is deleted.
     */
    async submit(tenantId: string, spec: JobSpec, opts: { idempotencyKey?: string; body: unknown }, log: FastifyBaseLogger): Promise<SubmitResult> {
      const hash = requestHash(opts.body);
      const prior = await findIdempotentJob(app.prisma, tenantId, opts.idempotencyKey, hash);
      if (prior) {
        if (prior.outcome === "replayed" && prior.job.status === "queued") await enqueue(prior.job.id).catch(() => {});
        return prior;
      }
      const errors = await referenceErrors(tenantId, spec);
      if (errors.length > 0) return { outcome: "invalid_references", errors };
      const active = await countActiveJobs(app.prisma, tenantId);
      const limit = app.config.maxConcurrentJobsPerTenant;
      if (active >= limit) return { outcome: "too_many_jobs", active, limit };

      const webhookSecret = spec.webhook ? generateWebhookSecret() : undefined;
      const created = await createJob(app.prisma, tenantId, spec, { idempotencyKey: opts.idempotencyKey, requestHash: hash, webhookSecret });
      if (created.outcome === "created") {
        try {
          await enqueue(created.job.id);
        } catch (err) {
          // no worker would ever see the row: take it back so the client's retry starts clean
          log.error({ err, jobId: created.job.id }, "could not enqueue the job");
          await app.prisma.job.delete({ where: { id: created.job.id } });
          return { outcome: "queue_unavailable" };
        }
      }
      return created;
    },

    /** the tenant's job (null: missing or another tenant's) */
    get(tenantId: string, id: string): Promise<Job | null> {
      return getJob(app.prisma, tenantId, id);
    },

    /** a page of the tenant's jobs, newest first; throws InvalidCursorError on a cursor we did not hand out */
    list(tenantId: string, query: ListJobsOptions): Promise<{ items: Job[]; nextCursor: string | null }> {
      return listJobs(app.prisma, tenantId, query);
    },

    /** Jobs ahead of this one in the wait list (workers take from the tail); null when it is not waiting. */
    async queuePosition(jobId: string): Promise<number | null> {
      try {
        return await positions.get(jobId, async () => {
          // one atomic command: half the cost of MULTI/LPOS/LLEN/EXEC on this polled route (bench:api)
          const ahead = (await app.redis.eval(QUEUE_POSITION_LUA, 1, waitKey, jobId)) as number;
          return ahead >= 0 ? ahead : null;
        });
      } catch {
        return null; // Redis down: the rest of the answer is still worth sending
      }
    },

    /**
     * Cancels a queued job at once (and takes it off the queue) or flags a running one; the job's subscribers
     * hear of it by webhook. Failing to reach the queue or the webhook queue is logged, not an error: the worker
     * finds the job cancelled either way.
     */
    async cancel(tenantId: string, id: string, log: FastifyBaseLogger): Promise<CancelResult> {
      const job = await getJob(app.prisma, tenantId, id);
      if (!job) return { outcome: "not_found" };
      // evicted even if a later step throws: the status may have changed by then
      const { outcome, status } = await requestCancel(app.prisma, job.id).finally(() => app.jobReads.evict(job.id));
      if (outcome === "not_found") return { outcome };
      if (outcome === "final") return { outcome, status: status! };
      if (outcome === "cancelled") {
        await withDeadline(() => app.queues.prune.remove(job.id), QUEUE_DEADLINE_MS).catch((err) => log.warn({ err, jobId: job.id }, "could not remove the queued BullMQ job; the worker will find it cancelled"));
      }
      const after = (await getJob(app.prisma, tenantId, job.id))!;
      if (outcome !== "already_requested") {
        const type = outcome === "cancelled" ? JOB_EVENT_TYPES.cancelled : JOB_EVENT_TYPES.cancelRequested;
        const event = await app.prisma.jobEvent.findFirst({ where: { jobId: job.id, type }, orderBy: { seq: "desc" } });
        if (event) await app.webhooks.enqueue(after, event).catch((err) => log.warn({ err, jobId: job.id }, "could not enqueue the webhook"));
      }
      return { outcome, job: after };
    },

    /** Deletes a finished job with its events and stored files; files a catalogued mask still uses stay. */
    async delete(tenantId: string, id: string): Promise<DeleteResult> {
      const job = await getJob(app.prisma, tenantId, id);
      if (!job) return { outcome: "not_found" };
      if (!isFinal(job.status)) return { outcome: "not_final", status: job.status };
      const [artifacts, masks] = await Promise.all([
        app.prisma.artifact.findMany({ where: { jobId: job.id }, select: { storageKey: true } }),
        app.prisma.maskArtifact.findMany({ where: { jobId: job.id }, select: { npzKey: true, logitsKey: true } }),
      ]);
      const kept = new Set(masks.flatMap((m) => [m.npzKey, m.logitsKey]).filter(Boolean));
      for (const a of artifacts) if (!kept.has(a.storageKey)) await app.storage.delete(a.storageKey);
      await app.prisma.job.delete({ where: { id: job.id } }).finally(() => app.jobReads.evict(job.id));
      return { outcome: "deleted" };
    },

    /** the job's events with seq > afterSeq, in order */
    events(jobId: string, opts: { afterSeq: number; limit: number }): Promise<JobEvent[]> {
      return listEvents(app.prisma, jobId, opts);
    },

    /** Every numeric field of the job's job.metrics events, in order, with the names seen (for one line each). */
    async metrics(jobId: string): Promise<MetricSeries> {
      const rows = await app.prisma.jobEvent.findMany({ where: { jobId, type: JOB_EVENT_TYPES.metrics }, orderBy: { seq: "asc" }, take: 20_000, select: { seq: true, data: true, createdAt: true } });
      const series = new Set<string>();
      const points = rows.map((r) => {
        const values: Record<string, number> = {};
        for (const [k, v] of Object.entries((r.data as Record<string, unknown> | null) ?? {}))
          if (typeof v === "number" && Number.isFinite(v)) {
            values[k] = v;
            if (k !== "step") series.add(k);
          }
        return { seq: r.seq, step: values.step ?? null, at: r.createdAt.toISOString(), values };
      });
      return { jobId, points, series: [...series].sort() };
    },

    /** jobs of every tenant by status (statuses without jobs are absent) */
    async countByStatus(): Promise<Map<JobStatus, number>> {
      const rows = await app.prisma.job.groupBy({ by: ["status"], _count: { _all: true } });
      return new Map(rows.map((r) => [r.status, r._count._all]));
    },

    /** mean duration and count of each pipeline stage over the last day, from the workers' stage-timing events */
    stageTimings(): Promise<{ stage: string; mean: number; n: bigint }[]> {
      return app.prisma.$queryRaw<{ stage: string; mean: number; n: bigint }[]>`
        SELECT "data"->>'stage' AS stage, avg(("data"->>'seconds')::float8) AS mean, count(*) AS n
        FROM "JobEvent"
        WHERE "type" = 'job.log' AND "data" ? 'seconds' AND "data" ? 'stage' AND "createdAt" > now() - interval '1 day'
        GROUP BY 1`;
    },
  };
}

export type JobsRepository = ReturnType<typeof createJobsRepository>;

declare module "fastify" {
  interface FastifyInstance {
    jobs: JobsRepository;
  }
}

export default fp(
  async (app) => {
    app.decorate("jobs", createJobsRepository(app));
  },
  { name: "jobs-repository", dependencies: ["prisma", "queues", "storage", "job-cache", "webhooks", "checkpoints-repository", "masks-repository", "files-repository"] },
);
