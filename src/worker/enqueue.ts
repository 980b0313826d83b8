// How a maskforge job goes onto the `prune` queue. The BullMQ job id IS the Postgres job id, so adding the
// same job twice (the API and the reconciler racing, or a reconcile after Redis lost its data) is a no-op.
import type { Queue } from "bullmq";

/** attempts ≥ 3 with exponential backoff: transient storage/database errors get retried, bad input never is. */
export const PRUNE_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: "exponential", delay: 5000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
} as const;

export interface PruneJobData {
  jobId: string;
}

export function enqueuePruneJob(queue: Queue, jobId: string, opts: { backoffDelayMs?: number } = {}): Promise<unknown> {
  return queue.add("prune", { jobId } satisfies PruneJobData, {
    ...PRUNE_JOB_OPTIONS,
    ...(opts.backoffDelayMs !== undefined ? { backoff: { type: "exponential", delay: opts.backoffDelayMs } } : {}),
    jobId,
  });
}
