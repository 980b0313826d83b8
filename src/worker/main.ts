// Worker entry point: consumes the `prune` queue with WORKER_CONCURRENCY sandboxed processors (child processes,
// so TF.js compute never blocks this process's lock renewal), reconciles Postgres with Redis at start-up, serves
// Prometheus metrics, delivers webhooks (the `webhooks` queue, filled by the sandboxes and the API), and on
// SIGTERM/SIGINT hands running jobs back (they snapshot, go back to queued and are retried by another worker)
// before exiting.
import { fileURLToPath } from "node:url";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfigOrExit } from "../config.js";
import { QUEUE_NAMES } from "../contract/queues.js";
import { createPrisma } from "../db/client.js";
import { WorkerMetrics, portOf } from "./metrics.js";
import { createBlobStore } from "../storage/index.js";
import { LIVENESS_PREFIX, reconcile, removeAbandonedUploads } from "./reconcile.js";
import type { ProgressPayload } from "./reporter.js";
import { HANDBACK_REASON } from "./handback.js";
import { startWebhookWorker } from "./webhooks.js";

const config = loadConfigOrExit();
const log = pino({ level: config.logLevel, name: "worker" });

// Workers block on Redis for jobs, so BullMQ needs maxRetriesPerRequest null: commands wait across reconnects.
const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
let redisDown = false;
connection.on("error", (err) => {
  if (!redisDown) log.warn({ err }, "redis unreachable; retrying");
  redisDown = true;
});
connection.on("ready", () => {
  if (redisDown) log.info("redis reachable again");
  redisDown = false;
});

const processorFile = fileURLToPath(new URL("./processor.mjs", import.meta.url));
const worker = new Worker(QUEUE_NAMES.prune, processorFile, {
  connection,
  prefix: config.queuePrefix,
  concurrency: config.workerConcurrency,
  autorun: false,
  useWorkerThreads: false,
});
// this connection's name tells the reconciler of any worker that this one is alive; a killed process drops it
const liveness = new Redis(config.redisUrl, { maxRetriesPerRequest: null, connectionName: `${LIVENESS_PREFIX}${worker.id}` });
liveness.on("error", () => {});
const queue = new Queue(QUEUE_NAMES.prune, { connection, prefix: config.queuePrefix });
queue.on("error", () => {});
const prisma = createPrisma(config.databaseUrl, { maxConnections: 2 });
const store = createBlobStore(config.storage);
const metrics = new WorkerMetrics();
metrics.concurrency.set(config.workerConcurrency);

// the worker re-emits every failed reconnect of its connections; the outage itself is logged once above
const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"]);
worker.on("error", (err) => {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && CONNECTION_ERRORS.has(code)) log.debug({ err }, "worker connection error");
  else log.error({ err }, "worker error");
});
const webhookWorker = startWebhookWorker(connection, config.queuePrefix, { prisma, allowPrivate: config.allowPrivateSources });
webhookWorker.on("error", (err) => {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && CONNECTION_ERRORS.has(code)) log.debug({ err }, "webhook worker connection error");
  else log.error({ err }, "webhook worker error");
});
webhookWorker.on("failed", (job, err) => log.warn({ jobId: job?.data.jobId, messageId: job?.data.messageId, attempt: job?.attemptsMade, err: err.message }, "webhook delivery attempt failed"));
worker.on("active", (job) => {
  metrics.started(job.id!);
  log.info({ jobId: job.id, attempt: job.attemptsMade + 1 }, "job started");
});
worker.on("progress", (job, p) => {
  if (typeof p === "object" && p !== null) metrics.progress(job.id!, p as ProgressPayload);
});
worker.on("completed", (job, result) => {
  metrics.ended(job.id!, "completed");
  log.info({ jobId: job.id, result }, "job completed");
});
worker.on("failed", (job, err) => {
  if (job) metrics.ended(job.id!, "failed");
  log.warn({ jobId: job?.id, err: err.message }, "job attempt failed");
});

let closing = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (closing) return;
  closing = true;
  log.info({ signal }, "shutting down: handing running jobs back to the queue");
  try {
    clearInterval(uploadSweep);
    worker.cancelAllJobs(HANDBACK_REASON);
    await Promise.all([worker.close(), webhookWorker.close()]);
    await queue.close();
    liveness.disconnect();
    connection.disconnect();
    await prisma.$disconnect();
    await store.close();
    log.info("worker closed");
    process.exit(0);
  } catch (err) {
    log.error({ err }, "shutdown failed");
    process.exit(1);
  }
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

const server = await metrics.listen(config.workerMetricsPort).catch((err: Error) => {
  log.warn({ err: err.message, port: config.workerMetricsPort }, "metrics port unavailable; running without it");
  return undefined;
});
await worker.waitUntilReady();
await liveness.ping();
try {
  const report = await reconcile(prisma, queue, connection);
  log.info(report, "reconciled Postgres with the queue");
} catch (err) {
  log.error({ err }, "reconciliation failed; continuing with the queue as it is");
}
// abandoned uploads (client gone, API restarted) at start-up and then every half staleness period
async function sweepUploads(): Promise<void> {
  try {
    const removed = await removeAbandonedUploads(prisma, store, config.uploadStaleAfterMs);
    if (removed.length > 0) log.info({ checkpoints: removed }, "removed abandoned uploads");
  } catch (err) {
    log.warn({ err }, "could not remove abandoned uploads; trying again later");
  }
}
await sweepUploads();
const uploadSweep = setInterval(() => void sweepUploads(), Math.max(1000, Math.floor(config.uploadStaleAfterMs / 2)));
uploadSweep.unref();
if (!closing) {
  log.info({ queue: QUEUE_NAMES.prune, prefix: config.queuePrefix, concurrency: config.workerConcurrency, metricsPort: server ? portOf(server) : null, workerId: worker.id }, "consuming");
  void worker.run();
}
