// Shared by the /v1 tests: an app on the test database, tenants with keys (removed, with everything they own,
// when the file ends), a tiny valid HF checkpoint as multipart, and a snapshot of every table and the blob
// store, to prove a refused request wrote nothing.
import { after, type TestContext } from "node:test";
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "@prisma/client";
import { Redis } from "ioredis";
import type { App } from "../../src/api/app.js";
import { createApiKey } from "../../src/db/api-keys.js";
import { createPrisma } from "../../src/db/client.js";
import { toHfConfig } from "../../src/checkpoint/hf-config.js";
import { buildTestApp, type TestAppOptions } from "./app.js";
import { testConfig } from "./config.js";

export const prisma: PrismaClient = createPrisma(testConfig().databaseUrl, { maxConnections: 4 });
const tenants: string[] = [];
after(async () => {
  if (tenants.length > 0) await prisma.tenant.deleteMany({ where: { id: { in: tenants } } });
  await prisma.$disconnect();
});

export interface TestTenant {
  id: string;
  key: string;
  auth: { authorization: string };
}

export async function newTenant(): Promise<TestTenant> {
  const created = await createApiKey(prisma, `test-${randomUUID()}`);
  tenants.push(created.tenantId);
  return { id: created.tenantId, key: created.key, auth: { authorization: `Bearer ${created.key}` } };
}

/** An app with fast SSE polling and its own queue prefix (its BullMQ keys are removed when the test ends). */
export async function v1App(t: Pick<TestContext, "after">, opts: TestAppOptions = {}): Promise<App> {
  const prefix = `test-${randomUUID()}`;
  const app = await buildTestApp(t, { v1: { events: { pollMs: 50, heartbeatMs: 200 } }, ...opts, env: { QUEUE_PREFIX: prefix, ...opts.env } });
  t.after(async () => {
    const redis = new Redis(app.config.redisUrl);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return app;
}

/**
 * Row counts of every table (limited to the given tenants' rows, since other test files share the database)
 * and every key in this app's own blob store.
 */
export async function snapshot(app: App, tenantIds: string[]): Promise<Record<string, unknown>> {
  const mine = { tenantId: { in: tenantIds } };
  const [tenant, apiKey, checkpoint, job, jobEvent, maskArtifact, artifact, dataFile] = await Promise.all([
    prisma.tenant.count({ where: { id: { in: tenantIds } } }),
    prisma.apiKey.count({ where: mine }),
    prisma.checkpoint.count({ where: mine }),
    prisma.job.count({ where: mine }),
    prisma.jobEvent.count({ where: { job: mine } }),
    prisma.maskArtifact.count({ where: mine }),
    prisma.artifact.count({ where: { job: mine } }),
    prisma.dataFile.count({ where: mine }),
  ]);
  const keys: string[] = [];
  for await (const b of app.storage.list("")) keys.push(b.key);
  return { tenant, apiKey, checkpoint, job, jobEvent, maskArtifact, artifact, dataFile, blobs: keys.sort() };
}

/** A safetensors file with the given F32 tensors (all zeros). */
export function safetensors(tensors: Record<string, number[]>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, Buffer.from(json), Buffer.alloc(offset)]);
}

export const TINY_CONFIG = toHfConfig({
  architecture: "LlamaForCausalLM",
  vocabSize: 8,
  hiddenSize: 4,
  intermediateSize: 8,
  numHiddenLayers: 1,
  numAttentionHeads: 2,
  numKeyValueHeads: 2,
  headDim: 2,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  maxPositionEmbeddings: 16,
  tieWordEmbeddings: false,
  attentionBias: false,
});

export const TINY_WEIGHTS = safetensors({ "model.embed_tokens.weight": [8, 4], "lm_head.weight": [8, 4] });

/** A multipart/form-data body of named files. */
export function multipart(files: { field?: string; name: string; body: Buffer | string; type?: string }[], fields: Record<string, string> = {}) {
  const boundary = `----maskforge${randomUUID()}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const f of files)
    parts.push(
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${f.field ?? "files"}"; filename="${f.name}"\r\ncontent-type: ${f.type ?? "application/octet-stream"}\r\n\r\n`),
      Buffer.isBuffer(f.body) ? f.body : Buffer.from(f.body),
      Buffer.from("\r\n"),
    );
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } };
}

export function tinyCheckpointUpload() {
  return multipart([
    { name: "config.json", body: JSON.stringify(TINY_CONFIG), type: "application/json" },
    { name: "model.safetensors", body: TINY_WEIGHTS },
  ]);
}

/** A valid job body on a Hub source (needs no checkpoint row). */
export function hubJob(extra: Record<string, unknown> = {}) {
  return { source: { hf: { repo: "stories/260k" } }, method: "magnitude", ...extra };
}
