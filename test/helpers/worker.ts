// Shared set-up of the worker tests: stories260K as a HF folder, a per-test queue prefix, storage on s3rver,
// uploaded checkpoints and data files written the way the upload API stores them, the worker as a child process
// (`tsx src/worker/main.ts`, in its own process group so a test can kill -9 it with its sandboxes), polling.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestContext } from "node:test";
import type { Job as JobRow, PrismaClient } from "@prisma/client";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../../src/config.js";
import { parseJobSpec } from "../../src/contract/job-spec/parse.js";
import type { JobSpec } from "../../src/contract/job-spec/schema.js";
import { createPrisma } from "../../src/db/client.js";
import { createJob } from "../../src/db/jobs.repository.js";
import { importLlama2c } from "../../src/checkpoint/llama2c.js";
import { checkpointFileKey, createBlobStore, dataFileKey, type BlobStore } from "../../src/storage/index.js";
import { enqueuePruneJob } from "../../src/worker/enqueue.js";
import { folderDigest } from "../../src/worker/files.js";
import { testConfig } from "./config.js";
import { startS3rver, type TestS3 } from "./s3rver.js";

export const SHARED = resolve(process.cwd(), "../shared");
const STORIES = join(SHARED, "models/stories260K");

/** stories260K imported into a HF folder (once per process). */
let storiesDir: Promise<string> | undefined;
export function stories260K(): Promise<string> {
  return (storiesDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "mf-worker-s260k-"));
    const out = join(dir, "hf");
    await importLlama2c({ modelPath: join(STORIES, "stories260K.bin"), tokenizerPath: join(STORIES, "tok512.model"), outDir: out });
    return out;
  })());
}

export interface WorkerEnv {
  config: Config;
  env: Record<string, string>;
  prisma: PrismaClient;
  store: BlobStore;
  queue: Queue;
  redis: Redis;
  prefix: string;
  tenantId: string;
  s3: TestS3;
}

/** Everything a worker test needs, torn down after the test (rows by tenant cascade, queue keys by prefix). */
export async function workerEnv(t: Pick<TestContext, "after">, extraEnv: Record<string, string> = {}): Promise<WorkerEnv> {
  const s3 = await startS3rver({ childProcess: true });
  const prefix = `mf-test-${randomUUID().slice(0, 8)}`;
  const env: Record<string, string> = { ...s3.env, QUEUE_PREFIX: prefix, SHARED_DIR: SHARED, TF_BACKEND: "wasm", WORKER_METRICS_PORT: "0", ...extraEnv };
  const config = testConfig(env);
  const prisma = createPrisma(config.databaseUrl, { maxConnections: 4 });
  const store = createBlobStore(config.storage);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue("prune", { connection: redis, prefix });
  const tenant = await prisma.tenant.create({ data: { name: `worker-test-${randomUUID()}` } });
  t.after(async () => {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await deletePrefixKeys(redis, prefix);
    redis.disconnect();
    await prisma.maskArtifact.deleteMany({ where: { tenantId: tenant.id } });
    await prisma.tenant.delete({ where: { id: tenant.id } }).catch(() => {});
    await prisma.$disconnect();
    await store.close();
    await s3.close();
  });
  return { config, env: { ...env, DATABASE_URL: config.databaseUrl, LOG_LEVEL: process.env.WORKER_TEST_LOG ?? "warn" }, prisma, store, queue, redis, prefix, tenantId: tenant.id, s3 };
}

/** Simulates Redis losing this prefix's data (other tests' keys stay). */
export async function deletePrefixKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) n += await redis.del(...keys);
  } while (cursor !== "0");
  return n;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A ready Checkpoint row with its files in storage, as POST /v1/checkpoints leaves it. */
export async function putCheckpoint(e: WorkerEnv, dir: string): Promise<string> {
  const id = randomUUID();
  const files = [];
  for (const name of (await readdir(dir)).sort()) {
    const bytes = await readFile(join(dir, name));
    const storageKey = checkpointFileKey(id, name);
    await e.store.put(storageKey, bytes);
    files.push({ name, bytes: bytes.length, sha256: sha(bytes), storageKey });
  }
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  await e.prisma.checkpoint.create({
    data: {
      id, tenantId: e.tenantId, source: { upload: true }, files, bytes: BigInt(files.reduce((a, f) => a + f.bytes, 0)),
      sha256: folderDigest(files), architecture: config.architectures[0], config, status: "ready",
    },
  });
  return id;
}

/** A DataFile row with its text (or Parquet bytes) in storage (POST /v1/files); the name is what format auto reads. */
export async function putDataFile(e: WorkerEnv, text: string | Uint8Array, purpose = "evaluation", name = "eval.txt"): Promise<string> {
  const id = randomUUID();
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : Buffer.from(text);
  const storageKey = dataFileKey(id);
  await e.store.put(storageKey, bytes);
  await e.prisma.dataFile.create({ data: { id, tenantId: e.tenantId, name, purpose, storageKey, bytes: BigInt(bytes.length), sha256: sha(bytes) } });
  return id;
}

/** The first `docs` stories of the held-out file, separators kept. */
export async function heldoutSlice(docs: number): Promise<string> {
  const text = await readFile(join(SHARED, "data/tinystories/heldout-data00-667.txt"), "utf8");
  return text.split("\u0000").slice(0, docs).join("\u0000") + "\u0000";
}

export function jobSpec(body: Record<string, unknown>): JobSpec {
  const r = parseJobSpec(body);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

export async function submit(e: WorkerEnv, spec: JobSpec, opts: { webhookSecret?: string } = {}): Promise<string> {
  const r = await createJob(e.prisma, e.tenantId, spec, opts);
  await enqueuePruneJob(e.queue, r.job.id, { backoffDelayMs: 200 });
  return r.job.id;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function waitForStatus(e: WorkerEnv, jobId: string, statuses: string[], timeoutMs: number, worker?: WorkerProcess): Promise<JobRow> {
  return waitFor(`job ${jobId} to reach ${statuses.join("|")}`, async () => {
    const j = await e.prisma.job.findUnique({ where: { id: jobId } });
    if (j && statuses.includes(j.status)) return j;
    if (j && ["succeeded", "failed", "cancelled"].includes(j.status))
      throw new Error(`job ${jobId} ended ${j.status} (${JSON.stringify(j.error)}); worker log:\n${worker?.output() ?? ""}`);
    return undefined;
  }, timeoutMs, 200);
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** signals the whole process group (the worker, tsx and the sandboxes) */
  kill(signal: NodeJS.Signals): void;
  /** signals the worker alone (tsx relays it), as an orchestrator stopping a container does */
  signal(signal: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

export function startWorker(t: Pick<TestContext, "after">, env: Record<string, string>): WorkerProcess {
  const tsx = resolve(process.cwd(), "node_modules/.bin/tsx");
  const child = spawn(tsx, ["src/worker/main.ts"], { env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const w: WorkerProcess = {
    child,
    output: () => out,
    kill(signal) {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    },
    signal(signal) {
      child.kill(signal);
    },
    exited,
  };
  t.after(async () => {
    w.kill("SIGKILL");
    await exited;
  });
  return w;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A self-signed certificate for 127.0.0.1 in `dir` (key.pem, cert.pem): children trust it via NODE_EXTRA_CA_CERTS. */
export async function selfSignedCert(dir: string): Promise<{ key: Buffer; cert: Buffer; certPath: string }> {
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  return { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")), certPath: join(dir, "cert.pem") };
}
