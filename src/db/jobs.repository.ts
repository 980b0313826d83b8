// Jobs and their events in Postgres. Plain functions over a PrismaClient or a transaction client, so the
// API and the worker share them and a caller can compose several in one transaction. Status and stage
// changes live in transitions.ts; everything here that writes an event goes through its writeEvent, so
// per-job sequence numbers stay gap-free and unique under concurrency.
import { createHash } from "node:crypto";
import { Prisma, type Job, type JobEvent } from "@prisma/client";
import type { JobSpec } from "../contract/job-spec/schema.js";
import { redactSpec } from "../contract/job-spec/source.js";
import { InvalidJobError } from "../contract/errors.js";
import { JOB_EVENT_TYPES } from "../contract/events.js";
import type { JobStatus } from "../contract/status.js";
import { pageArgs, toPage } from "./page.repository.js";
import { inTx, transition, writeEvent, type Db, type NewEvent } from "./transitions.js";

export interface CreateJobOptions {
  idempotencyKey?: string;
  /** sha256 of the request body: the same key with another body is a conflict, not a replay */
  requestHash?: string;
  /** Standard Webhooks secret for spec.webhook, stored with the job for the delivery worker */
  webhookSecret?: string;
}

export type CreateJobResult =
  | { outcome: "created"; job: Job }
  /** the key was used before with the same body: answer with the job it created */
  | { outcome: "replayed"; job: Job }
  /** the key was used before with another body */
  | { outcome: "conflict"; job: Job };

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/** sha256 of a request body, blind to key order: what "the same body" means for an idempotency key. */
export function requestHash(body: unknown): string {
  return createHash("sha256").update(canonical(body)).digest("hex");
}

/**
 * The job an idempotency key already made, as a replay (same request hash) or a conflict (another one);
 * null when the key is new. createJob asks this before and after it races; a caller may ask first to answer a
 * replay before checking anything else.
 */
export async function findIdempotentJob(db: Db, tenantId: string | null, idempotencyKey: string | undefined, requestHash: string | undefined): Promise<CreateJobResult | null> {
  if (!idempotencyKey) return null;
  const job = await db.job.findFirst({ where: { tenantId, idempotencyKey } });
  if (!job) return null;
  return { outcome: job.requestHash === (requestHash ?? null) ? "replayed" : "conflict", job };
}

/**
 * Stores a validated spec as a queued job with its job.created event (seq 1). With an idempotency key,
 * a second call returns the first job instead of creating another, also when both race (the unique index
 * on (tenantId, idempotencyKey) decides). Postgres treats NULL tenants as distinct, so without a tenant
 * the key is checked by a read only.
 */
export async function createJob(db: Db, tenantId: string | null, spec: JobSpec, opts: CreateJobOptions = {}): Promise<CreateJobResult> {
  const { idempotencyKey, requestHash } = opts;
  const existing = () => findIdempotentJob(db, tenantId, idempotencyKey, requestHash);
  const before = await existing();
  if (before) return before;
  try {
    const job = await inTx(db, async (tx) => {
      const created = await tx.job.create({
        data: {
          tenantId,
          checkpointId: "checkpoint_id" in spec.source ? spec.source.checkpoint_id : null,
          spec: spec as unknown as Prisma.InputJsonValue,
          idempotencyKey: idempotencyKey ?? null,
          requestHash: requestHash ?? null,
          webhookSecret: opts.webhookSecret ?? null,
        },
      });
      await writeEvent(tx, created.id, { type: JOB_EVENT_TYPES.created, message: "job queued", data: { spec: redactSpec(spec) } as unknown as Prisma.InputJsonValue });
      return tx.job.findUniqueOrThrow({ where: { id: created.id } });
    });
    return { outcome: "created", job };
  } catch (err) {
    // lost the race for the same key: the winner's row is there now
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      const after = await existing();
      if (after) return after;
    }
    // the only foreign key set here: the API should have checked the checkpoint, but a deleted one lands here
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2003" && "checkpoint_id" in spec.source)
      throw new InvalidJobError("checkpoint_invalid", `checkpoint ${spec.source.checkpoint_id} does not exist; upload it first (POST /v1/checkpoints)`);
    throw err;
  }
}

/** A job by id, only if it belongs to the tenant (null: jobs without a tenant). */
export function getJob(db: Db, tenantId: string | null, jobId: string): Promise<Job | null> {
  return db.job.findFirst({ where: { id: jobId, tenantId } });
}

/** Appends an event with the job's next sequence number; throws P2025 (Prisma) when the job is gone. */
export function appendEvent(db: Db, jobId: string, event: NewEvent): Promise<JobEvent> {
  return inTx(db, (tx) => writeEvent(tx, jobId, event));
}

export interface ProgressUpdate {
  /** 0..1 over the whole pipeline; never moves back within an attempt */
  progress: number;
  etaSeconds?: number | null;
  /** latest figures (loss, tau, ...), replacing the previous ones */
  metrics?: Prisma.InputJsonValue;
}

/**
 * One UPDATE, no event row: cheap enough for the worker to call every few seconds, which is also how it
 * polls for cancellation. `running` false means the job left the running status (cancelled, or another
 * worker finished it): stop working on it.
 */
export async function updateProgress(db: Db, jobId: string, u: ProgressUpdate): Promise<{ running: boolean; cancelRequested: boolean }> {
  const progress = Math.min(1, Math.max(0, Number.isFinite(u.progress) ? u.progress : 0));
  const eta = u.etaSeconds === undefined ? null : u.etaSeconds;
  const keepEta = u.etaSeconds === undefined;
  const metrics = u.metrics === undefined ? null : JSON.stringify(u.metrics);
  const rows = await db.$queryRaw<{ cancelRequested: boolean }[]>`
    UPDATE "Job" SET
      "progress" = GREATEST("progress", ${progress}),
      "etaSeconds" = CASE WHEN ${keepEta} THEN "etaSeconds" ELSE ${eta}::double precision END,
      "metrics" = COALESCE(${metrics}::jsonb, "metrics"),
      "updatedAt" = now()
    WHERE "id" = ${jobId}::uuid AND "status" = 'running'
    RETURNING "cancelRequested"`;
  if (rows.length > 0) return { running: true, cancelRequested: rows[0].cancelRequested };
  const job = await db.job.findUnique({ where: { id: jobId }, select: { cancelRequested: true } });
  return { running: false, cancelRequested: job?.cancelRequested ?? false };
}

export type CancelOutcome =
  /** it was queued: now cancelled, no worker will run it */
  | "cancelled"
  /** it is running: the worker stops at its next check and moves it to cancelled */
  | "cancel_requested"
  /** it is running and a cancel was already asked for */
  | "already_requested"
  /** it had already finished (succeeded, failed or cancelled): nothing changed */
  | "final"
  | "not_found";

/** Cancels a queued job at once, or flags a running one; safe against a worker changing the job meanwhile. */
export async function requestCancel(db: Db, jobId: string): Promise<{ outcome: CancelOutcome; status?: JobStatus }> {
  // a retry can move running -> queued between two steps, so try again a few times rather than guess
  for (let round = 0; round < 3; round++) {
    if (await transition(db, jobId, ["queued"], "cancelled", { event: { message: "cancelled on request before it started" } })) return { outcome: "cancelled", status: "cancelled" };
    const flagged = await inTx(db, async (tx) => {
      const { count } = await tx.job.updateMany({ where: { id: jobId, status: "running", cancelRequested: false }, data: { cancelRequested: true } });
      if (count === 0) return false;
      await writeEvent(tx, jobId, { type: JOB_EVENT_TYPES.cancelRequested, level: "warn", message: "cancel requested" });
      return true;
    });
    if (flagged) return { outcome: "cancel_requested", status: "running" };
    const job = await db.job.findUnique({ where: { id: jobId }, select: { status: true, cancelRequested: true } });
    if (!job) return { outcome: "not_found" };
    if (job.status === "running" && job.cancelRequested) return { outcome: "already_requested", status: "running" };
    if (job.status !== "queued" && job.status !== "running") return { outcome: "final", status: job.status };
  }
  const job = await db.job.findUnique({ where: { id: jobId }, select: { status: true } });
  return job ? { outcome: job.status === "cancelled" ? "final" : "already_requested", status: job.status } : { outcome: "not_found" };
}

export interface ListJobsOptions {
  status?: JobStatus;
  /** at most this many (1..100, default 20) */
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/**
 * A tenant's jobs, newest first, a page at a time. The cursor is the (createdAt, id) of the last row shown,
 * so pages neither skip nor repeat rows when new jobs arrive. Throws InvalidCursorError on a bad cursor.
 */
export async function listJobs(db: Db, tenantId: string | null, opts: ListJobsOptions = {}): Promise<{ items: Job[]; nextCursor: string | null }> {
  const { take, where, orderBy } = pageArgs(opts);
  const rows = await db.job.findMany({ where: { tenantId, ...(opts.status ? { status: opts.status } : {}), ...where }, orderBy, take: take + 1 });
  return toPage(rows, take);
}

/** Events with seq > afterSeq in order: the SSE backlog after Last-Event-ID, or a polling page. */
export function listEvents(db: Db, jobId: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<JobEvent[]> {
  return db.jobEvent.findMany({
    where: { jobId, seq: { gt: Math.max(0, Math.floor(opts.afterSeq ?? 0)) } },
    orderBy: { seq: "asc" },
    take: Math.min(1000, Math.max(1, Math.floor(opts.limit ?? 100))),
  });
}

/** Queued and running jobs of a tenant: what counts against its concurrency limit. */
export function countActiveJobs(db: Db, tenantId: string | null): Promise<number> {
  return db.job.count({ where: { tenantId, status: { in: ["queued", "running"] } } });
}
