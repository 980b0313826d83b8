// Start-up reconciliation: Postgres is the record of what must run. A job that Postgres has as queued or
// running must exist in BullMQ, and an active BullMQ job must belong to a live worker; otherwise the work
// would be lost (Redis lost its data; a worker was killed and its lock has not expired yet).
import type { PrismaClient } from "@prisma/client";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { checkpointPrefix, type BlobStore } from "../storage/index.js";
import { enqueuePruneJob } from "./enqueue.js";

/** Client name every worker's liveness connection carries: a worker killed with -9 drops it at once. */
export const LIVENESS_PREFIX = "maskforge-worker:";

export interface ReconcileReport {
  checked: number;
  /** not in BullMQ at all: added again */
  enqueued: string[];
  /** active, but the worker holding it is gone: moved back so a live worker takes it */
  orphaned: string[];
  /** finished in BullMQ while Postgres still waits: removed and added again */
  requeued: string[];
}

async function liveWorkers(redis: Redis): Promise<Set<string>> {
  const list = (await redis.call("CLIENT", "LIST")) as string;
  const ids = new Set<string>();
  for (const line of list.split("\n")) {
    const m = / name=(\S+)/.exec(line);
    if (m && m[1].startsWith(LIVENESS_PREFIX)) ids.add(m[1].slice(LIVENESS_PREFIX.length));
  }
  return ids;
}

export async function reconcile(prisma: PrismaClient, queue: Queue, redis: Redis, opts: { backoffDelayMs?: number } = {}): Promise<ReconcileReport> {
  const rows = await prisma.job.findMany({ where: { status: { in: ["queued", "running"] } }, select: { id: true }, orderBy: { createdAt: "asc" } });
  const report: ReconcileReport = { checked: rows.length, enqueued: [], orphaned: [], requeued: [] };
  const live = await liveWorkers(redis);
  for (const { id } of rows) {
    const job = await queue.getJob(id);
    if (!job) {
      await enqueuePruneJob(queue, id, opts);
      report.enqueued.push(id);
      continue;
    }
    const state = await job.getState();
    if (state === "completed" || state === "failed") {
      await job.remove();
      await enqueuePruneJob(queue, id, opts);
      report.requeued.push(id);
    } else if (state === "active") {
      const lockKey = `${queue.opts.prefix ?? "bull"}:${queue.name}:${id}:lock`;
      const token = await redis.get(lockKey);
      const owner = token?.split(":")[0];
      if (owner && live.has(owner)) continue;
      // "0" skips BullMQ's token check when the lock already expired
      await job.moveToDelayed(Date.now(), token ?? "0");
      report.orphaned.push(id);
    }
  }
  return report;
}

/** why a checkpoint row was taken for an abandoned upload; a sweep that died half-way finds it by this */
export const ABANDONED_UPLOAD = "abandoned upload: no bytes arrived for too long (client gone or API restarted)";

/**
 * Uploads whose row stayed `uploading` untouched for `staleAfterMs` (the API touches it while bytes arrive)
 * lost their client or their API process: their files and rows are removed. Each is first marked invalid
 * with a conditional update, so an upload that is still alive is never taken, and a sweep that stops half-way
 * is finished by the next. Returns the ids removed.
 */
export async function removeAbandonedUploads(prisma: PrismaClient, store: BlobStore, staleAfterMs: number): Promise<string[]> {
  const cutoff = new Date(Date.now() - staleAfterMs);
  const stale = await prisma.checkpoint.findMany({
    where: { OR: [{ status: "uploading", updatedAt: { lt: cutoff } }, { status: "invalid", error: ABANDONED_UPLOAD }] },
    select: { id: true, status: true },
    take: 1000,
  });
  const removed: string[] = [];
  for (const c of stale) {
    if (c.status === "uploading") {
      const taken = await prisma.checkpoint.updateMany({ where: { id: c.id, status: "uploading", updatedAt: { lt: cutoff } }, data: { status: "invalid", error: ABANDONED_UPLOAD } });
      if (taken.count === 0) continue;
    }
    await store.deletePrefix(checkpointPrefix(c.id));
    await prisma.checkpoint.deleteMany({ where: { id: c.id, status: "invalid" } });
    removed.push(c.id);
  }
  return removed;
}
