// The one place that reads process.env: every setting is declared here with its default and checked once
// at start-up, so a bad deployment fails before it takes traffic, naming every bad key at once.
import { resolve } from "node:path";
import { Type, type Static } from "typebox";
import { Value } from "typebox/value";

const Bool = Type.Union([Type.Literal("true"), Type.Literal("false"), Type.Literal("1"), Type.Literal("0")]);
const Int = (dflt: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  Type.String({ pattern: "^[0-9]+$", default: String(dflt), description: `integer in [${min}, ${max}]`, minimum: min, maximum: max });

export const EnvSchema = Type.Object({
  DATABASE_URL: Type.String({ pattern: "^postgres(ql)?://", default: "postgresql://postgres@127.0.0.1:5432/maskforge", description: "Postgres connection URL" }),
  REDIS_URL: Type.String({ pattern: "^rediss?://", default: "redis://127.0.0.1:6379", description: "Redis URL for the BullMQ queues" }),
  QUEUE_PREFIX: Type.String({ minLength: 1, default: "maskforge", description: "prefix of every BullMQ key in Redis" }),
  STORAGE_DRIVER: Type.Union([Type.Literal("local"), Type.Literal("s3")], { default: "local", description: "blob store: local filesystem or S3" }),
  LOCAL_STORAGE_DIR: Type.String({ minLength: 1, default: ".data/blobs", description: "root folder of the local blob store" }),
  S3_ENDPOINT: Type.String({ default: "", description: "S3 endpoint URL (empty: AWS)" }),
  S3_BUCKET: Type.String({ default: "maskforge", description: "S3 bucket" }),
  S3_REGION: Type.String({ default: "us-east-1", description: "S3 region" }),
  S3_ACCESS_KEY_ID: Type.String({ default: "", description: "S3 access key (empty: the SDK's default chain)" }),
  S3_SECRET_ACCESS_KEY: Type.String({ default: "", description: "S3 secret key" }),
  S3_FORCE_PATH_STYLE: Type.Optional(Bool),
  SHARED_DIR: Type.String({ minLength: 1, default: "../shared", description: "folder with the builtin models and datasets" }),
  PORT: Int(3000, 0, 65535),
  HOST: Type.String({ minLength: 1, default: "127.0.0.1", description: "address the API listens on" }),
  PUBLIC_URL: Type.String({ default: "", description: "external base URL of the API, for links (empty: derived from the request)" }),
  LOG_LEVEL: Type.Union(["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)), { default: "info" }),
  WORKER_CONCURRENCY: Int(1, 1, 64),
  WORKER_METRICS_PORT: Int(9464, 0, 65535),
  WORKER_MEMORY_LIMIT_BYTES: Int(8 * 1024 ** 3, 1),
  TRAIN_THREADS: Int(0, 0, 64),
  NATIVE_KERNELS: Type.Union([Type.Literal("auto"), Type.Literal("off")], { default: "auto", description: "the host trainer's linear products and attention: auto (the native AVX-512/AVX2 addon where it is built and the CPU has AVX2+FMA, else wasm) or off (always wasm)" }),
  TF_BACKEND: Type.Union(["auto", "tensorflow", "wasm", "cpu", "webgpu"].map((l) => Type.Literal(l)), { default: "auto" }),
  MAX_UPLOAD_FILE_BYTES: Int(8 * 1024 ** 3, 1),
  MAX_UPLOAD_TOTAL_BYTES: Int(32 * 1024 ** 3, 1),
  MAX_DOWNLOAD_BYTES: Int(32 * 1024 ** 3, 1),
  HF_ENDPOINT: Type.String({ pattern: "^https?://", default: "https://huggingface.co", description: "Hugging Face Hub API base" }),
  ALLOW_PRIVATE_SOURCES: Type.Optional(Bool),
  S3_SOURCE_BUCKETS: Type.String({
    pattern: "^[a-z0-9.,-]*$",
    default: "",
    description: "comma-separated buckets that s3:// job sources may read with the worker's S3 credentials (empty: none); the service's own bucket is never one",
  }),
  MAX_GZIP_RATIO: Int(20, 1, 100_000),
  UPLOAD_STALE_AFTER_MS: Int(10 * 60_000, 1000),
  HTTP_HEADERS_TIMEOUT_MS: Int(30_000, 100),
  HTTP_REQUEST_TIMEOUT_MS: Int(60 * 60_000, 100),
  HTTP_IDLE_TIMEOUT_MS: Int(60_000, 100),
  RATE_LIMIT_PER_MINUTE: Int(600, 1),
  RATE_LIMIT_STORE: Type.Union([Type.Literal("memory"), Type.Literal("redis")], { default: "memory", description: "where rate-limit counters live: this process (limits per API process) or Redis (shared by every replica, one round trip per request)" }),
  MAX_CONCURRENT_JOBS_PER_TENANT: Int(4, 1),
  MASKFORGE_API_URL: Type.String({ pattern: "^https?://", default: "http://127.0.0.1:3000", description: "API base URL the maskforge CLI client talks to (flag --api-url wins)" }),
  MASKFORGE_API_KEY: Type.String({ default: "", description: "API key (mf_...) of the CLI client (flag --api-key wins)" }),
});

export type Env = Static<typeof EnvSchema>;

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  storage:
    | { driver: "local"; dir: string }
    | { driver: "s3"; endpoint?: string; bucket: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean };
  /** S3 settings for s3:// job sources, whatever the storage driver */
  s3: { endpoint?: string; region: string; accessKeyId?: string; secretAccessKey?: string; forcePathStyle: boolean };
  sharedDir: string;
  port: number;
  host: string;
  publicUrl?: string;
  logLevel: Env["LOG_LEVEL"];
  workerConcurrency: number;
  workerMetricsPort: number;
  workerMemoryLimitBytes: number;
  tfBackend: Env["TF_BACKEND"];
  /** threads per training job (at most the job's micro_batches); 0: the cores divided by workerConcurrency */
  trainThreads: number;
  /** the host trainer's linear products and attention: "auto" (native addon where it loads, else wasm) or "off" (wasm) */
  nativeKernels: Env["NATIVE_KERNELS"];
  limits: { uploadFileBytes: number; uploadTotalBytes: number; downloadBytes: number };
  hfEndpoint: string;
  allowPrivateSources: boolean;
  /** buckets s3:// sources may name; never the storage bucket */
  s3SourceBuckets: string[];
  /** a .tar.gz source expanding more than this many times its compressed size is refused (decompression bomb) */
  maxGzipRatio: number;
  /** an upload whose row was not touched for this long is abandoned; the worker's reconciler removes it */
  uploadStaleAfterMs: number;
  /** API sockets: headers must arrive within headersMs, the whole request within requestMs, no byte either way for idleMs closes it */
  httpTimeouts: { headersMs: number; requestMs: number; idleMs: number };
  rateLimitPerMinute: number;
  /** memory: counters per API process; redis: shared across replicas at one Redis round trip per request */
  rateLimitStore: Env["RATE_LIMIT_STORE"];
  maxConcurrentJobsPerTenant: number;
  /** the CLI as an API client */
  client: { apiUrl: string; apiKey?: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Unions of literals read better as their allowed values than as TypeBox's anyOf message. */
function describe(schema: object, message: string): string {
  const anyOf = (schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (anyOf && anyOf.every((s) => s.const !== undefined)) return `must be one of ${anyOf.map((s) => String(s.const)).join(", ")}`;
  return message;
}

const truthy = (v: string | undefined) => v === "true" || v === "1";

/** Checks the environment against EnvSchema; throws one ConfigError naming every bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(EnvSchema.properties);
  const picked: Record<string, string> = {};
  for (const key of known) if (env[key] !== undefined && env[key] !== "") picked[key] = env[key]!;
  const withDefaults = Value.Default(EnvSchema, picked) as Record<string, string>;
  const problems = new Set<string>();
  // one key at a time: TypeBox stops collecting errors after a few, and every bad key must be named
  for (const [key, schema] of Object.entries(EnvSchema.properties)) {
    const v = withDefaults[key];
    if (v === undefined) continue;
    const first = Value.Errors(schema, v)[0];
    if (first) problems.add(`${key}: ${describe(schema, first.message)} (got ${JSON.stringify(v)})`);
  }
  // pattern cannot express numeric ranges, so check them here
  for (const [key, schema] of Object.entries(EnvSchema.properties) as [string, { minimum?: number; maximum?: number }][]) {
    const v = withDefaults[key];
    if (schema.minimum === undefined || v === undefined || !/^[0-9]+$/.test(v)) continue;
    const n = Number(v);
    if (n < schema.minimum || (schema.maximum !== undefined && n > schema.maximum))
      problems.add(`${key}: must be in [${schema.minimum}, ${schema.maximum}] (got ${v})`);
  }
  const e = withDefaults as unknown as Env;
  const sourceBuckets = e.S3_SOURCE_BUCKETS.split(",").filter(Boolean);
  if (e.STORAGE_DRIVER === "s3" && sourceBuckets.includes(e.S3_BUCKET))
    problems.add(`S3_SOURCE_BUCKETS: must not list the storage bucket ${e.S3_BUCKET} (a job would read other tenants' files); a tenant's own checkpoint is {checkpoint_id}`);
  // Node refuses a headers timeout longer than the request timeout
  if (Number(e.HTTP_HEADERS_TIMEOUT_MS) > Number(e.HTTP_REQUEST_TIMEOUT_MS)) problems.add(`HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS (${e.HTTP_REQUEST_TIMEOUT_MS})`);
  // headers still arriving are answered by the headers timeout (408); the idle timeout must not close them first
  if (Number(e.HTTP_IDLE_TIMEOUT_MS) <= Number(e.HTTP_HEADERS_TIMEOUT_MS)) problems.add(`HTTP_IDLE_TIMEOUT_MS: must exceed HTTP_HEADERS_TIMEOUT_MS (${e.HTTP_HEADERS_TIMEOUT_MS})`);
  if (problems.size > 0) throw new ConfigError([...problems]);
  const num = (k: keyof Env) => Number(e[k]);
  return {
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    queuePrefix: e.QUEUE_PREFIX,
    storage:
      e.STORAGE_DRIVER === "s3"
        ? {
            driver: "s3",
            endpoint: e.S3_ENDPOINT || undefined,
            bucket: e.S3_BUCKET,
            region: e.S3_REGION,
            accessKeyId: e.S3_ACCESS_KEY_ID || undefined,
            secretAccessKey: e.S3_SECRET_ACCESS_KEY || undefined,
            forcePathStyle: truthy(e.S3_FORCE_PATH_STYLE),
          }
        : { driver: "local", dir: resolve(e.LOCAL_STORAGE_DIR) },
    s3: {
      endpoint: e.S3_ENDPOINT || undefined,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID || undefined,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY || undefined,
      forcePathStyle: truthy(e.S3_FORCE_PATH_STYLE),
    },
    sharedDir: resolve(e.SHARED_DIR),
    port: num("PORT"),
    host: e.HOST,
    publicUrl: e.PUBLIC_URL || undefined,
    logLevel: e.LOG_LEVEL,
    workerConcurrency: num("WORKER_CONCURRENCY"),
    workerMetricsPort: num("WORKER_METRICS_PORT"),
    workerMemoryLimitBytes: num("WORKER_MEMORY_LIMIT_BYTES"),
    tfBackend: e.TF_BACKEND,
    trainThreads: num("TRAIN_THREADS"),
    nativeKernels: e.NATIVE_KERNELS,
    limits: { uploadFileBytes: num("MAX_UPLOAD_FILE_BYTES"), uploadTotalBytes: num("MAX_UPLOAD_TOTAL_BYTES"), downloadBytes: num("MAX_DOWNLOAD_BYTES") },
    hfEndpoint: e.HF_ENDPOINT.replace(/\/+$/, ""),
    allowPrivateSources: truthy(e.ALLOW_PRIVATE_SOURCES),
    s3SourceBuckets: sourceBuckets,
    maxGzipRatio: num("MAX_GZIP_RATIO"),
    uploadStaleAfterMs: num("UPLOAD_STALE_AFTER_MS"),
    httpTimeouts: { headersMs: num("HTTP_HEADERS_TIMEOUT_MS"), requestMs: num("HTTP_REQUEST_TIMEOUT_MS"), idleMs: num("HTTP_IDLE_TIMEOUT_MS") },
    rateLimitPerMinute: num("RATE_LIMIT_PER_MINUTE"),
    rateLimitStore: e.RATE_LIMIT_STORE,
    maxConcurrentJobsPerTenant: num("MAX_CONCURRENT_JOBS_PER_TENANT"),
    client: { apiUrl: e.MASKFORGE_API_URL.replace(/\/+$/, ""), apiKey: e.MASKFORGE_API_KEY || undefined },
  };
}

/** For entry points: load the config or exit with the one message that names every bad key. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
