// The `fetching` stage: any job source → a local HF folder. {checkpoint_id} comes from our storage; {url} is a
// .tar/.tar.gz archive or a base URL with the files by name (https, or s3:// via s3.ts); {hf} goes through the Hub API at config.hfEndpoint.
// Every remote byte passes the SSRF guard (http.ts), the size budget and sha256 (files.ts).
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { InvalidJobError } from "../../contract/errors.js";
import { networkPolicy, s3Problem } from "../../contract/job-spec/network-policy.js";
import type { JobSource } from "../../contract/job-spec/schema.js";
import { normalizeSource, sourceUrlKind } from "../../contract/job-spec/source.js";
import { ByteBudget, folderDigest, writeStream, type StoredFile } from "../files.js";
import { fetchCheckpoint } from "./checkpoint-source.js";
import type { FetchedSource } from "./fetched.js";
import { guardedGet, type GuardedGetOptions } from "./http.js";
import { hubFiles, hubFileUrl, hubHttp, type HubRepo } from "./hub.js";
import { MODEL_SIDE_FILES, shardsOf } from "./model-files.js";
import { fetchS3Folder, openS3Object, sourceS3Client } from "./s3.js";
import { extractTar } from "./tar.js";
import type { JobIoContext } from "../job-io-context.js";

export type { FetchedSource } from "./fetched.js";

async function getToFile(url: string, dir: string, name: string, budget: ByteBudget, http: GuardedGetOptions): Promise<StoredFile> {
  const res = await guardedGet(url, http);
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > budget.limit - budget.used) {
    res.body.destroy();
    budget.take(declared);
  }
  return { name, ...(await writeStream(res.body, join(dir, name), budget, http.signal)) };
}

/** GET that answers null on 404 (an optional file of a base URL). */
async function getOptional(url: string, dir: string, name: string, budget: ByteBudget, http: GuardedGetOptions): Promise<StoredFile | null> {
  try {
    return await getToFile(url, dir, name, budget, http);
  } catch (err) {
    const status = err instanceof InvalidJobError ? err.details?.status : undefined;
    if (status === 404 || status === 410) return null;
    throw err;
  }
}

async function fetchBaseUrl(base: string, ctx: JobIoContext, budget: ByteBudget, http: GuardedGetOptions): Promise<StoredFile[]> {
  const root = base.endsWith("/") ? base : `${base}/`;
  const files: StoredFile[] = [await getToFile(new URL("config.json", root).href, ctx.dir, "config.json", budget, http)];
  const index = await getOptional(new URL("model.safetensors.index.json", root).href, ctx.dir, "model.safetensors.index.json", budget, http);
  if (index) {
    files.push(index);
    for (const shard of await shardsOf(join(ctx.dir, index.name))) files.push(await getToFile(new URL(shard, root).href, ctx.dir, shard, budget, http));
  } else {
    const single = await getOptional(new URL("model.safetensors", root).href, ctx.dir, "model.safetensors", budget, http);
    if (!single) throw new InvalidJobError("source_not_found", `${root} serves neither model.safetensors nor model.safetensors.index.json; only safetensors checkpoints are supported`);
    files.push(single);
  }
  for (const side of MODEL_SIDE_FILES.slice(1)) {
    const f = await getOptional(new URL(side, root).href, ctx.dir, side, budget, http);
    if (f) files.push(f);
  }
  return files;
}

/** Folder of an extracted archive that holds config.json: the root or its single top-level folder. */
async function modelRoot(dir: string, files: StoredFile[]): Promise<{ dir: string; files: StoredFile[] }> {
  if (files.some((f) => f.name === "config.json")) return { dir, files };
  const tops = new Set(files.map((f) => f.name.split("/")[0]));
  if (tops.size === 1) {
    const top = [...tops][0];
    if ((await stat(join(dir, top)).catch(() => null))?.isDirectory() && (await readdir(join(dir, top))).includes("config.json"))
      return { dir: join(dir, top), files: files.map((f) => ({ ...f, name: f.name.slice(top.length + 1) })) };
  }
  throw new InvalidJobError("checkpoint_invalid", "the archive has no config.json at its root or in its single top-level folder");
}

async function fetchHub(repo: string, revision: string, token: string | undefined, ctx: JobIoContext, budget: ByteBudget, http: GuardedGetOptions): Promise<StoredFile[]> {
  const r: HubRepo = { kind: "models", repo, revision, token };
  const hub = hubHttp(ctx.config, http, token);
  const siblings = await hubFiles(ctx.config, r, http);
  const present = new Set(siblings);
  if (!present.has("config.json")) throw new InvalidJobError("checkpoint_invalid", `${repo}@${revision} has no config.json at its root`);
  const weights = present.has("model.safetensors.index.json") ? ["model.safetensors.index.json"] : present.has("model.safetensors") ? ["model.safetensors"] : [];
  if (weights.length === 0) throw new InvalidJobError("unsupported_model", `${repo}@${revision} has no model.safetensors or model.safetensors.index.json; only safetensors checkpoints are supported`);
  const resolveUrl = (f: string) => hubFileUrl(ctx.config, r, f);
  const files: StoredFile[] = [];
  for (const f of [...MODEL_SIDE_FILES.filter((s) => present.has(s)), ...weights]) files.push(await getToFile(resolveUrl(f), ctx.dir, f, budget, hub));
  if (weights[0] === "model.safetensors.index.json")
    for (const shard of await shardsOf(join(ctx.dir, weights[0]))) {
      if (!present.has(shard)) throw new InvalidJobError("checkpoint_invalid", `the index names ${shard}, which ${repo}@${revision} does not have`);
      files.push(await getToFile(resolveUrl(shard), ctx.dir, shard, budget, hub));
    }
  return files;
}

export async function fetchSource(source: JobSource, ctx: JobIoContext): Promise<FetchedSource> {
  const budget = new ByteBudget(ctx.config.limits.downloadBytes, "the model");
  const http: GuardedGetOptions = { allowPrivate: ctx.config.allowPrivateSources, signal: ctx.signal, what: "source URL" };
  const s = normalizeSource(source);
  if ("checkpoint_id" in s) return fetchCheckpoint(ctx.prisma, ctx.store, s.checkpoint_id, ctx.tenantId, ctx.dir, budget, ctx.signal);
  if ("hf" in s) {
    const revision = s.hf.revision ?? "main";
    const files = await fetchHub(s.hf.repo, revision, s.hf.token, ctx, budget, http);
    return { dir: ctx.dir, files, sha256: folderDigest(files), description: `${s.hf.repo}@${revision}` };
  }
  const kind = sourceUrlKind(s.url);
  if (s.url.startsWith("s3://")) {
    // checked again here, not only at submit: the worker's S3 credentials can read the service's own bucket
    const problem = s3Problem(s.url, networkPolicy(ctx.config));
    if (problem) throw new InvalidJobError("source_unauthorized", `source ${s.url} ${problem}`);
    const client = sourceS3Client(ctx.config);
    try {
      const opts = { dir: ctx.dir, budget, signal: ctx.signal };
      if (kind === "base") {
        const files = await fetchS3Folder(client, s.url, opts);
        return { dir: ctx.dir, files, sha256: folderDigest(files), description: s.url };
      }
      const extracted = await extractTar(await openS3Object(client, s.url, opts), ctx.dir, { gzip: kind === "tar.gz", budget, maxRatio: ctx.config.maxGzipRatio });
      const root = await modelRoot(ctx.dir, extracted);
      return { dir: root.dir, files: root.files, sha256: folderDigest(root.files), description: s.url };
    } finally {
      client.destroy();
    }
  }
  const shown = (() => {
    const u = new URL(s.url);
    return `${u.origin}${u.pathname}`;
  })();
  if (kind === "base") {
    const files = await fetchBaseUrl(s.url, ctx, budget, http);
    return { dir: ctx.dir, files, sha256: folderDigest(files), description: shown };
  }
  const res = await guardedGet(s.url, http);
  const extracted = await extractTar(res.body, ctx.dir, { gzip: kind === "tar.gz", budget, maxRatio: ctx.config.maxGzipRatio });
  const root = await modelRoot(ctx.dir, extracted);
  return { dir: root.dir, files: root.files, sha256: folderDigest(root.files), description: shown };
}
