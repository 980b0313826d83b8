// Queue names shared by the API (producer) and the worker (consumer): one place, so the two cannot drift.
// Every BullMQ key in Redis is also prefixed with config.queuePrefix, so several deployments can share a Redis.

export const QUEUE_NAMES = {
  /** mask learning + pruning jobs: one BullMQ job per maskforge Job row */
  prune: "prune",
  /** one BullMQ job per webhook delivery (src/worker/webhooks.ts), retried with exponential backoff */
  webhooks: "webhooks",
} as const;

/** What the API puts on the prune queue: the Job row holds everything else. The BullMQ job id is the Job id. */
export interface PruneJobData {
  jobId: string;
}

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];
