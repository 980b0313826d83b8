// {url: "s3://..."}: a model folder under a key prefix, or one .tar/.tar.gz object, read with the worker's own
// S3 settings (the storage driver's endpoint and credentials; with the local driver, the SDK's default chain).
// The endpoint is the operator's, so no SSRF guard: the bucket and key are all the user chooses, and the bucket
// must be on S3_SOURCE_BUCKETS and never the service's own (fetch-source checks). File choice, size cap and
// sha256 are those of the other fetchers.
import { join } from "node:path";
import type { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import type { Config } from "../../config.js";
import { InvalidJobError, s3SourceError, TransientError } from "../../contract/errors.js";
import { parseS3Url } from "../../contract/job-spec/source.js";
import { writeStream, safeRelativeName, type ByteBudget, type StoredFile } from "../files.js";
import { MODEL_SIDE_FILES, shardsOf } from "./model-files.js";

/** more direct children than this under one prefix is not a model folder */
const MAX_LISTED = 10_000;

export interface S3SourceOptions {
  /** empty folder the model goes into */
  dir: string;
  budget: ByteBudget;
  signal?: AbortSignal;
}

/** A client for job sources: the s3 storage driver's endpoint and credentials, else the SDK's default chain. */
export function sourceS3Client(config: Config): S3Client {
  // the S3_* settings apply to sources with either storage driver (a local-storage worker can still read s3://)
  const s = config.s3;
  const cfg: S3ClientConfig = {
    // S3-compatible servers (MinIO, s3rver) differ in their support of the newer default checksums
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
  Object.assign(cfg, { region: s.region, endpoint: s.endpoint, forcePathStyle: s.forcePathStyle });
  if (s.accessKeyId && s.secretAccessKey) cfg.credentials = { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey };
  return new S3Client(cfg);
}

async function send<T>(what: () => Promise<T>, where: string, signal?: AbortSignal): Promise<T> {
  try {
    return await what();
  } catch (err) {
    throw signal?.aborted ? signal.reason : s3SourceError(err, where);
  }
}

function locate(url: string): { bucket: string; key: string } {
  const loc = parseS3Url(url);
  if (!loc) throw new InvalidJobError("invalid_spec", `source ${JSON.stringify(url)} is not an s3://<bucket>/<key> URI`);
  return loc;
}

/** The body of one object (an archive), after checking its declared size against the budget. */
export async function openS3Object(client: S3Client, url: string, opts: S3SourceOptions): Promise<Readable> {
  const { bucket, key } = locate(url);
  const res = await send(() => client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal }), url, opts.signal);
  const body = res.Body as Readable | undefined;
  if (!body) throw new TransientError(`S3 answered ${url} without a body`);
  if (res.ContentLength !== undefined && res.ContentLength > opts.budget.limit - opts.budget.used) {
    body.destroy();
    opts.budget.take(res.ContentLength);
  }
  return body;
}

async function download(client: S3Client, bucket: string, key: string, name: string, size: number | undefined, opts: S3SourceOptions): Promise<StoredFile> {
  const where = `s3://${bucket}/${key}`;
  if (size !== undefined && size > opts.budget.limit - opts.budget.used) opts.budget.take(size);
  const res = await send(() => client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal }), where, opts.signal);
  const body = res.Body as Readable | undefined;
  if (!body) throw new TransientError(`S3 answered ${where} without a body`);
  const got = await send(() => writeStream(body, join(opts.dir, name), opts.budget, opts.signal), where, opts.signal);
  return { name, ...got };
}

/** The folder's direct children: file name → size. */
async function listFolder(client: S3Client, bucket: string, prefix: string, where: string, signal?: AbortSignal): Promise<Map<string, number | undefined>> {
  const found = new Map<string, number | undefined>();
  let token: string | undefined;
  do {
    const page = await send(
      () => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: "/", ContinuationToken: token }), { abortSignal: signal }),
      where,
      signal,
    );
    for (const o of page.Contents ?? []) {
      const name = o.Key?.slice(prefix.length);
      if (name && safeRelativeName(name) === name) found.set(name, o.Size);
    }
    if (found.size > MAX_LISTED) throw new InvalidJobError("checkpoint_invalid", `${where} holds more than ${MAX_LISTED} objects; point the source at the model's own folder`);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found;
}

/** A model folder under s3://bucket/prefix/: config.json, the tokenizer files and the safetensors weights. */
export async function fetchS3Folder(client: S3Client, url: string, opts: S3SourceOptions): Promise<StoredFile[]> {
  const loc = locate(url);
  const prefix = loc.key === "" || loc.key.endsWith("/") ? loc.key : `${loc.key}/`;
  const where = `s3://${loc.bucket}/${prefix}`;
  const present = await listFolder(client, loc.bucket, prefix, where, opts.signal);
  if (present.size === 0) throw new InvalidJobError("source_not_found", `${where} holds no objects; check the bucket and the key prefix`);
  if (!present.has("config.json")) throw new InvalidJobError("checkpoint_invalid", `${where} has no config.json; point the source at a Hugging Face model folder`);
  const weights = present.has("model.safetensors.index.json") ? "model.safetensors.index.json" : present.has("model.safetensors") ? "model.safetensors" : null;
  if (!weights) throw new InvalidJobError("unsupported_model", `${where} has neither model.safetensors nor model.safetensors.index.json; only safetensors checkpoints are supported`);
  const get = (name: string) => download(client, loc.bucket, prefix + name, name, present.get(name), opts);
  const files: StoredFile[] = [];
  for (const f of [...MODEL_SIDE_FILES.filter((s) => present.has(s)), weights]) files.push(await get(f));
  if (weights === "model.safetensors.index.json")
    for (const shard of await shardsOf(join(opts.dir, weights))) {
      if (!present.has(shard)) throw new InvalidJobError("checkpoint_invalid", `the index names ${shard}, which ${where} does not have`);
      files.push(await get(shard));
    }
  return files;
}
