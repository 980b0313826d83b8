// How the worker side (the reconciler, tests) puts a maskforge job onto the `prune` queue: the same name, data
// and options as the API, from src/contract/queues.ts.
import type { Queue } from "bullmq";
import { pruneJob } from "../contract/queues.js";

export function enqueuePruneJob(queue: Queue, jobId: string, opts: { backoffDelayMs?: number } = {}): Promise<unknown> {
  const j = pruneJob(jobId, opts);
  return queue.add(j.name, j.data, j.opts);
}
