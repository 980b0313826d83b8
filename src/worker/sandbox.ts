// The BullMQ sandboxed processor: runs in a child process of the worker, so TF.js compute never blocks the
// parent's lock renewal. Per process, once: the config, the TF backend (initBackend), the native linear kernels,
// Prisma and the blob store.
// Per job: a connection for the `webhooks` queue, closed when the job ends, so no socket outlives its job.
import "../runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { Queue, type SandboxedJob } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfigOrExit } from "../config.js";
import { QUEUE_NAMES } from "../contract/queues.js";
import { createPrisma } from "../db/client.js";
import { initBackend } from "../maskllm/backend.js";
import { useNativeKernels } from "../native/kernels.js";
import { createBlobStore } from "../storage/index.js";
import { runJob, type QueueJob, type RunJobDeps, type RunJobResult } from "./run-job.js";

let deps: Promise<RunJobDeps> | undefined;

function setup(): Promise<RunJobDeps> {
  return (deps ??= (async () => {
    const config = loadConfigOrExit();
    const log = pino({ level: config.logLevel, name: "worker-sandbox" });
    const backend = await initBackend(config.tfBackend);
    // the host trainer's linear products (its op pools' threads follow this process's choice)
    const native = useNativeKernels(config.nativeKernels);
    log.info({ backend, linearKernels: native.kernels, ...(native.reason ? { nativeKernelsReason: native.reason } : {}), pid: process.pid }, "sandbox ready");
    return { config, prisma: createPrisma(config.databaseUrl, { maxConnections: 4 }), store: createBlobStore(config.storage), log };
  })());
}

export default async function processPruneJob(job: SandboxedJob, token?: string, signal?: AbortSignal): Promise<RunJobResult> {
  const d = await setup();
  // a few retries, not BullMQ's endless wait: a webhook enqueue is bounded and must not hold the job
  const connection = new Redis(d.config.redisUrl, { maxRetriesPerRequest: 2 });
  connection.on("error", () => {});
  const webhooks = new Queue(QUEUE_NAMES.webhooks, { connection, prefix: d.config.queuePrefix });
  webhooks.on("error", () => {});
  try {
    return await runJob({ ...d, webhooks }, job as unknown as QueueJob, token, signal);
  } finally {
    await webhooks.close().catch(() => {});
    connection.disconnect();
  }
}
