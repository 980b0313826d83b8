// Queue names shared by the API (producer) and the worker (consumer): one place, so the two cannot drift.
// Every BullMQ key in Redis is also prefixed with config.queuePrefix, so several deployments can share a Redis.

export const QUEUE_NAMES = {
  /** mask learning + pruning jobs: one BullMQ job per maskforge Job row */
  prune: "prune",
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];
