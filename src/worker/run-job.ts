// One attempt of one job, from the queue's point of view: take the Postgres row to `running`, run the pipeline,
// and end in exactly one of: succeeded (artifacts and mask registered in the same transaction), back to queued
// (transient error with attempts left, or the worker is shutting down: the job is handed back), failed or
// cancelled (the job's storage prefix and artifact rows removed, so nothing half-written stays behind).
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DelayedError, type Queue } from "bullmq";
import type { JobEvent, Prisma, PrismaClient } from "@prisma/client";
import { classifyError, isUserError, JobLostError, stopRetrying } from "../contract/errors.js";
import { networkPolicy } from "../contract/job-spec/network-policy.js";
import { assertJobSpec } from "../contract/job-spec/parse.js";
import type { JobSpec } from "../contract/job-spec/schema.js";
import { eventTypeForStatus, JOB_EVENT_TYPES } from "../contract/events.js";
import { isFinal, type JobStatus } from "../contract/status.js";
import { transition, writeEvent, type TransitionPatch } from "../db/transitions.js";
import { jobPrefix, jobSnapshotPrefix, type BlobStore } from "../storage/index.js";
import { isHandback } from "./handback.js";
import type { JobIoContext } from "./job-io-context.js";
import { JobWebhooks } from "./job-webhooks.js";
import { runPipeline, skippedStages, type PipelineOutcome } from "./pipeline.js";
import { JobReporter, type ProgressPayload } from "./reporter.js";

/** The part of a BullMQ job (sandboxed or not) this needs. */
export interface QueueJob {
  id?: string;
  data: { jobId?: string };
  attemptsMade?: number;
  opts?: { attempts?: number };
  updateProgress(p: ProgressPayload): Promise<void>;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
}

/** What a job's inputs and outputs go through (job-io-context.ts), and the worker's own. */
export interface RunJobDeps extends Pick<JobIoContext, "config" | "prisma" | "store"> {
  log?: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
  /** poll interval of the reporter (tests shorten it) */
  pollMs?: number;
  /** producer on the `webhooks` queue; without it no webhook is sent */
  webhooks?: Queue;
}

export interface RunJobResult {
  jobId: string;
  status: JobStatus;
}

/** Removes everything a job stored (files and their rows): on failure and cancel. */
export async function removeJobArtifacts(prisma: PrismaClient, store: BlobStore, jobId: string): Promise<void> {
  await store.deletePrefix(jobPrefix(jobId));
  await prisma.artifact.deleteMany({ where: { jobId } });
}

function handedBack(signal: AbortSignal | undefined): boolean {
  return !!signal?.aborted && isHandback(signal.reason);
}

/** Rolls back finishSucceeded's transaction when the job left `running` meanwhile. */
class LostRaceError extends Error {}

/** Registers the results and moves the job to succeeded in one transaction; returns the events it wrote (artifacts, then succeeded), or null when someone else moved the job first. */
async function finishSucceeded(prisma: PrismaClient, store: BlobStore, jobId: string, tenantId: string | null, spec: JobSpec, out: PipelineOutcome): Promise<JobEvent[] | null> {
  const written = await prisma.$transaction(async (tx) => {
    const events: JobEvent[] = [];
    for (const a of out.artifacts) {
      const row = await tx.artifact.upsert({
        where: { storageKey: a.storageKey },
        create: { jobId, kind: a.kind, name: a.name, storageKey: a.storageKey, bytes: BigInt(a.bytes), sha256: a.sha256 },
        update: { jobId, kind: a.kind, name: a.name, bytes: BigInt(a.bytes), sha256: a.sha256 },
      });
      // before job.succeeded: after a final event a job sends nothing more
      events.push(await writeEvent(tx, jobId, { type: JOB_EVENT_TYPES.artifact, message: `artifact ${a.name}`, data: { artifactId: row.id, kind: a.kind, name: a.name, bytes: a.bytes } }));
    }
    if (out.npzKey || out.logitsKey)
      await tx.maskArtifact.create({
        data: {
          tenantId, pattern: spec.pattern, method: spec.method, baseCheckpointId: out.baseCheckpointId ?? null, baseSha256: out.baseSha256, jobId,
          parentMaskId: out.parentMaskId ?? null, metrics: out.metrics as Prisma.InputJsonValue, npzKey: out.npzKey ?? null, logitsKey: out.logitsKey ?? null,
        },
      });
    await tx.artifact.deleteMany({ where: { jobId, kind: "snapshot" } });
    const ok = await transition(tx, jobId, ["running"], "succeeded", { metrics: out.metrics as Prisma.InputJsonValue, event: { message: "job succeeded", data: { metrics: out.metrics as Prisma.InputJsonValue } } });
    if (!ok) throw new LostRaceError();
    events.push((await tx.jobEvent.findFirst({ where: { jobId, type: JOB_EVENT_TYPES.succeeded }, orderBy: { seq: "desc" } }))!);
    return events;
  }, { timeout: 30_000 }).catch((err) => {
    if (err instanceof LostRaceError) return null;
    throw err;
  });
  // the snapshot served its purpose; the final artifacts replace it
  if (written) await store.deletePrefix(jobSnapshotPrefix(jobId)).catch(() => {});
  return written;
}

/** Runs one attempt; throws what BullMQ must see (UnrecoverableError: stop, other: retry, DelayedError: handed back). */
export async function runJob(deps: RunJobDeps, qjob: QueueJob, token: string | undefined, signal?: AbortSignal): Promise<RunJobResult> {
  const { prisma, store } = deps;
  const jobId = qjob.data.jobId ?? qjob.id;
  if (!jobId) throw stopRetrying("queue job without a jobId");
  const row = await prisma.job.findUnique({ where: { id: jobId } });
  if (!row) throw stopRetrying(`job ${jobId} does not exist in Postgres`);
  if (isFinal(row.status)) return { jobId, status: row.status }; // cancelled while queued, or finished before a crash

  const hooks = new JobWebhooks(deps.webhooks, prisma, jobId, row, deps.log);
  /** A status change of this job, then its webhook; false when someone else moved the job first. */
  const move = async (from: JobStatus[], to: JobStatus, patch?: TransitionPatch): Promise<boolean> => {
    const ok = await transition(prisma, jobId, from, to, patch);
    if (ok) await hooks.latest(eventTypeForStatus(to));
    return ok;
  };
  /** Where the job stands after someone else moved it. */
  const current = async (): Promise<RunJobResult> => {
    const now = await prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
    return { jobId, status: now?.status ?? "cancelled" };
  };

  if (row.status === "running")
    // the previous attempt died without a word (kill -9, lost lock): record it, then start this one
    await move(["running"], "queued", { event: { message: "previous attempt was interrupted; resuming from the latest snapshot", data: { reason: "interrupted" } } });
  // a spec this worker cannot run never starts: queued -> failed, as the status table has it
  let spec: JobSpec;
  try {
    spec = assertJobSpec(row.spec, { network: networkPolicy(deps.config) });
  } catch (err) {
    const c = classifyError(err);
    if (!(await move(["queued"], "failed", { error: { code: c.code, message: c.publicMessage } }))) return current();
    throw err;
  }
  if (!(await move(["queued"], "running", { event: { data: { attempt: (qjob.attemptsMade ?? 0) + 1 } } }))) return current();

  const workDir = join(tmpdir(), "maskforge-jobs", `${jobId}-${process.pid}`);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const reporter = new JobReporter(prisma, jobId, signal, {
    pollMs: deps.pollMs,
    skip: skippedStages(spec),
    onProgress: (p) => qjob.updateProgress(p).catch(() => {}),
    onStage: () => hooks.latest(JOB_EVENT_TYPES.stage),
  });
  reporter.start();
  try {
    const io = { config: deps.config, prisma, store, tenantId: row.tenantId, dir: workDir, signal: reporter.signal };
    const out = await runPipeline({ jobId, spec, reporter, workDir, io });
    await reporter.stop();
    const written = await finishSucceeded(prisma, store, jobId, row.tenantId, spec, out);
    if (written) {
      await hooks.events(written);
      deps.log?.info({ jobId }, "job succeeded");
      return { jobId, status: "succeeded" };
    }
    // someone moved the job meanwhile (a cancel that raced the last stage): honour it
    await removeJobArtifacts(prisma, store, jobId);
    return current();
  } catch (raw) {
    await reporter.stop();
    // a stop (cancel, shutdown, lost job) explains whatever broke meanwhile, unless the input itself was bad
    const err = reporter.signal.aborted && !isUserError(raw) ? (reporter.signal.reason ?? raw) : raw;
    if (err instanceof JobLostError) throw err;
    if (handedBack(signal)) {
      // shutdown: keep the snapshot, put the job back for another worker, without spending an attempt
      await move(["running"], "queued", { event: { message: "worker shutting down; job handed back to the queue", data: { reason: "shutdown" } } });
      if (token) {
        await qjob.moveToDelayed(Date.now() + 1000, token);
        await new Promise((res) => setTimeout(res, 200)); // let the parent process the move before the result
        throw new DelayedError("handed back on shutdown");
      }
      throw new Error("handed back on shutdown");
    }
    const c = classifyError(err);
    const attempts = qjob.opts?.attempts ?? 1;
    const attemptsLeft = (qjob.attemptsMade ?? 0) + 1 < attempts;
    if (c.retry && attemptsLeft) {
      await move(["running"], "queued", {
        event: { message: `attempt failed (${c.publicMessage}); retrying`, data: { attempt: (qjob.attemptsMade ?? 0) + 1, code: c.code, message: c.publicMessage } },
      });
      deps.log?.warn({ jobId, err }, "transient failure; BullMQ retries");
      throw err;
    }
    if (c.code === "internal") deps.log?.error({ jobId, err }, "job failed with an internal error");
    await removeJobArtifacts(prisma, store, jobId).catch((e) => deps.log?.error({ jobId, err: e }, "could not remove the job's artifacts"));
    await move(["running"], c.status, c.status === "failed" ? { error: { code: c.code, message: c.publicMessage } } : { event: { message: "cancelled on request; partial artifacts removed" } });
    if (c.status === "cancelled") return { jobId, status: "cancelled" };
    throw stopRetrying(c.publicMessage, c.code);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
