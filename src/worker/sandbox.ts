// The BullMQ sandboxed processor: runs in a child process of the worker, so TF.js compute never blocks the
// parent's lock renewal. Per process, once: the config, the TF backend (initBackend), Prisma and the blob store.
import type { SandboxedJob } from "bullmq";
import { pino } from "pino";
import { loadConfigOrExit } from "../config.js";
import { createPrisma } from "../db/client.js";
import { initBackend } from "../maskllm/backend.js";
import { createBlobStore } from "../storage/index.js";
import { runJob, type QueueJob, type RunJobDeps, type RunJobResult } from "./run-job.js";

let deps: Promise<RunJobDeps> | undefined;

function setup(): Promise<RunJobDeps> {
  return (deps ??= (async () => {
    const config = loadConfigOrExit();
    const log = pino({ level: config.logLevel, name: "worker-sandbox" });
    const backend = await initBackend(config.tfBackend);
    log.info({ backend, pid: process.pid }, "sandbox ready");
    return { config, prisma: createPrisma(config.databaseUrl, { maxConnections: 4 }), store: createBlobStore(config.storage), log };
  })());
}

export default async function processPruneJob(job: SandboxedJob, token?: string, signal?: AbortSignal): Promise<RunJobResult> {
  return runJob(await setup(), job as unknown as QueueJob, token, signal);
}
