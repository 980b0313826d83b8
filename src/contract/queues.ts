// Queue names and the prune queue's job shape, shared by the API (producer), the worker's reconciler (producer
// again, after a Redis loss) and the worker (consumer): one place, so they cannot drift.
// Every BullMQ key in Redis is also prefixed with config.queuePrefix, so several deployments can share a Redis.

export const QUEUE_NAMES = {
  /** mask learning + pruning jobs: one BullMQ job per maskforge Job row */
  prune: "prune",
  /** one BullMQ job per webhook delivery (src/worker/webhooks.ts), retried with exponential backoff */
  webhooks: "webhooks",
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** What goes on the prune queue: the Job row holds everything else. */
export interface PruneJobData {
  jobId: string;
}

/**
 * First retry delay of a prune job. Only transient errors are retried (classifyError marks bad input
 * unrecoverable): a storage or database hiccup, so 10 s then 20 s gives a restarting service time to come
 * back without leaving the user waiting for minutes.
 */
export const PRUNE_JOB_BACKOFF_MS = 10_000;

/** BullMQ options of a prune job (a subset of BullMQ's JobsOptions, kept free of the bullmq import). */
export interface PruneJobOptions {
  attempts: number;
  backoff: { type: "exponential"; delay: number };
  removeOnComplete: { age: number; count: number };
  removeOnFail: { age: number };
}

/** Every prune job's options: 3 attempts, exponential backoff; finished jobs kept a while for inspection. */
export const PRUNE_JOB_OPTIONS: Readonly<PruneJobOptions> = {
  attempts: 3,
  backoff: { type: "exponential", delay: PRUNE_JOB_BACKOFF_MS },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/**
 * The arguments of queue.add for a Job row. The BullMQ job id IS the Job id, so adding the same job twice (the
 * API and the reconciler racing, a client retrying) is a no-op. `backoffDelayMs` is for tests only.
 */
export function pruneJob(jobId: string, opts: { backoffDelayMs?: number } = {}): { name: typeof QUEUE_NAMES.prune; data: PruneJobData; opts: PruneJobOptions & { jobId: string } } {
  const backoff = opts.backoffDelayMs === undefined ? PRUNE_JOB_OPTIONS.backoff : { type: "exponential" as const, delay: opts.backoffDelayMs };
  return { name: QUEUE_NAMES.prune, data: { jobId }, opts: { ...PRUNE_JOB_OPTIONS, backoff, jobId } };
}
