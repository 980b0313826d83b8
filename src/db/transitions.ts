// Status and stage changes of a Job, each one a conditional update plus an append-only JobEvent in the same
// transaction. The condition ("status is still one of `from`") is what makes concurrent actors safe: when the
// API cancels while the worker finishes, exactly one UPDATE matches the row and only that one writes an event;
// the loser gets `false` and must not act as if it had won.
import { Prisma, type $Enums, type JobEvent, type PrismaClient } from "@prisma/client";
import { eventTypeForStatus, JOB_EVENT_TYPES, type EventLevel } from "../contract/events.js";
import { canTransition, isFinal, JOB_STAGES, JOB_STATUSES, stagesBefore, type JobStage, type JobStatus } from "../contract/status.js";

// The contract's lists must equal the Prisma enums; a drift fails `tsc` here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const statusesMatch: Same<JobStatus, $Enums.JobStatus> = true;
const stagesMatch: Same<JobStage, $Enums.JobStage> = true;
void statusesMatch;
void stagesMatch;

/** A PrismaClient or the client of an interactive transaction the caller already runs. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** Runs `fn` in a transaction: a new one on a PrismaClient, the caller's own on a transaction client. */
export function inTx<T>(db: Db, fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  return "$transaction" in db ? db.$transaction(fn) : fn(db);
}

/** A status change that the status machine does not allow: a bug in the caller, refused before any write. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly from: readonly JobStatus[],
    readonly to: JobStatus,
  ) {
    super(`illegal job transition ${from.join("|")} -> ${to}`);
    this.name = "IllegalTransitionError";
  }
}

export interface NewEvent {
  type: string;
  level?: EventLevel;
  message?: string;
  data?: Prisma.InputJsonValue;
}

/**
 * Appends one event inside `tx`: bumping Job.eventSeq row-locks the job, so concurrent writers are
 * serialised and every event gets the next number; a rollback takes the number back with the row.
 */
export async function writeEvent(tx: Prisma.TransactionClient, jobId: string, event: NewEvent): Promise<JobEvent> {
  const { eventSeq } = await tx.job.update({ where: { id: jobId }, data: { eventSeq: { increment: 1 } }, select: { eventSeq: true } });
  return tx.jobEvent.create({
    data: { jobId, seq: eventSeq, type: event.type, level: event.level ?? "info", message: event.message ?? null, ...(event.data === undefined ? {} : { data: event.data }) },
  });
}

export interface TransitionPatch {
  stage?: JobStage | null;
  progress?: number;
  etaSeconds?: number | null;
  metrics?: Prisma.InputJsonValue;
  /** what the user sees when the job failed; `code` from src/contract/errors.ts */
  error?: { code: string; message: string; [k: string]: Prisma.InputJsonValue };
  attempt?: number;
  /** replaces the default event of this change (job.started, job.failed, ...) in part */
  event?: Partial<NewEvent>;
}

/**
 * Moves the job from one of `from` to `to` and appends the matching event, atomically. Returns false, and
 * writes nothing, when the job is not in `from` any more (someone else moved it) or does not exist.
 * Throws IllegalTransitionError when some `from` -> `to` is not in the status machine.
 *
 * Fields set on the way: entering running stamps startedAt, counts the attempt and clears the stage;
 * going back to queued (a retry) clears stage, progress and eta; a final status stamps finishedAt and
 * clears eta, and succeeded sets progress to 1.
 */
export async function transition(db: Db, jobId: string, from: readonly JobStatus[], to: JobStatus, patch: TransitionPatch = {}): Promise<boolean> {
  if (from.length === 0 || from.some((f) => !canTransition(f, to))) throw new IllegalTransitionError(from, to);
  const now = new Date();
  const { event, error, metrics, ...rest } = patch;
  const data: Prisma.JobUpdateManyMutationInput = {
    ...(to === "running" ? { startedAt: now, stage: null, attempt: { increment: 1 } } : {}),
    ...(to === "queued" ? { stage: null, progress: 0, etaSeconds: null } : {}),
    ...(isFinal(to) ? { finishedAt: now, etaSeconds: null } : {}),
    ...(to === "succeeded" ? { progress: 1 } : {}),
    ...rest,
    ...(error === undefined ? {} : { error }),
    ...(metrics === undefined ? {} : { metrics }),
    status: to,
  };
  return inTx(db, async (tx) => {
    const { count } = await tx.job.updateMany({ where: { id: jobId, status: { in: [...from] } }, data });
    if (count === 0) return false;
    await writeEvent(tx, jobId, {
      type: event?.type ?? eventTypeForStatus(to),
      level: event?.level ?? (to === "failed" ? "error" : to === "queued" ? "warn" : "info"),
      message: event?.message ?? (error ? error.message : `status ${to}`),
      data: event?.data ?? { status: to, ...(from.length === 1 ? { previous: from[0] } : {}), ...(error ? { error } : {}) },
    });
    return true;
  });
}

/**
 * Starts a pipeline stage of a running job and appends job.stage. Stages only move forward: returns false
 * (nothing written) when the job is not running or already at this stage or a later one.
 */
export async function setStage(db: Db, jobId: string, stage: JobStage, patch: { progress?: number; etaSeconds?: number | null } = {}): Promise<boolean> {
  if (!JOB_STAGES.includes(stage)) throw new RangeError(`unknown stage ${String(stage)}`);
  const earlier = stagesBefore(stage);
  return inTx(db, async (tx) => {
    const before = await tx.job.findUnique({ where: { id: jobId }, select: { stage: true } });
    const { count } = await tx.job.updateMany({
      where: { id: jobId, status: "running", OR: [{ stage: null }, ...(earlier.length > 0 ? [{ stage: { in: earlier } }] : [])] },
      data: { stage, ...patch },
    });
    if (count === 0) return false;
    await writeEvent(tx, jobId, { type: JOB_EVENT_TYPES.stage, message: `stage ${stage}`, data: { stage, previous: before?.stage ?? null } });
    return true;
  });
}

/** Whether a status value read from outside (a query string, a queue payload) is one of ours. */
export function isJobStatus(s: unknown): s is JobStatus {
  return typeof s === "string" && (JOB_STATUSES as readonly string[]).includes(s);
}
