// Worker entry point: a BullMQ Worker on the `prune` queue, configured from the same Config as the API.
//
// The training pipeline does not exist yet, so this worker connects but does NOT consume: with `autorun: false`
// and no processor, jobs stay waiting in Redis until a worker that can run them starts. The alternatives lose
// work: a processor that reports success would mark jobs done that never ran, and one that throws
// UnrecoverableError would fail every submitted job for good. The pipeline issue adds the processor and
// calls `worker.run()` here.
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfigOrExit } from "../config.js";
import { QUEUE_NAMES } from "../contract/queues.js";

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

const worker = new Worker(QUEUE_NAMES.prune, undefined, {
  connection,
  prefix: config.queuePrefix,
  concurrency: config.workerConcurrency,
  autorun: false,
});
// the worker re-emits every failed reconnect of its connections; the outage itself is logged once above
const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE"]);
worker.on("error", (err) => {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && CONNECTION_ERRORS.has(code)) log.debug({ err }, "worker connection error");
  else log.error({ err }, "worker error");
});

let closing = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (closing) return;
  closing = true;
  log.info({ signal }, "shutting down: waiting for running jobs to finish");
  try {
    await worker.close(); // lets active jobs finish; a second signal does not cut them short
    connection.disconnect();
    log.info("worker closed");
    process.exit(0);
  } catch (err) {
    log.error({ err }, "shutdown failed");
    process.exit(1);
  }
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

await worker.waitUntilReady();
if (!closing) {
  log.info(
    { queue: QUEUE_NAMES.prune, prefix: config.queuePrefix, concurrency: config.workerConcurrency },
    "connected; not consuming jobs: the pruning pipeline is not available yet",
  );
}
