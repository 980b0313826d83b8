// Blob store on S3 or an S3-compatible server (MinIO in docker-compose, s3rver in tests). Streams go up as
// multipart uploads (lib-storage buffers at most queueSize × partSize), so a checkpoint of several GB
// never sits in memory; S3 makes an object visible only once its upload completes.
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Config } from "../config.js";
import {
  BlobNotFoundError,
  BlobTooLargeError,
  InvalidRangeError,
  type BlobInfo,
  type BlobStore,
  type GetOptions,
  type PutOptions,
  type PutResult,
} from "./blob-store.js";
import { contentDisposition } from "./content-disposition.js";
import { assertValidKey, assertValidPrefix } from "./keys.js";
import { MeasureStream, resolveRange } from "./measure-stream.js";
import { DEFAULT_CONTENT_TYPE, normalizeMetadata } from "./metadata.js";

export type S3StorageConfig = Extract<Config["storage"], { driver: "s3" }>;

/** S3's smallest part, 2 in flight: bounded memory, and 10 000 parts still reach 50 GB */
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;
/** the longest a SigV4 presigned URL may live */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

interface AwsError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}
const awsStatus = (err: unknown) => (err as AwsError | undefined)?.$metadata?.httpStatusCode;
const awsName = (err: unknown) => (err as AwsError | undefined)?.name ?? (err as AwsError | undefined)?.Code;

export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly client: S3Client;
  readonly bucket: string;

  constructor(cfg: S3StorageConfig) {
    const clientConfig: S3ClientConfig = {
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.forcePathStyle,
      // S3-compatible servers (MinIO, s3rver) differ in their support of the newer default checksums
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    };
    if (cfg.accessKeyId && cfg.secretAccessKey)
      clientConfig.credentials = { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey };
    this.client = new S3Client(clientConfig);
    this.bucket = cfg.bucket;
  }

  async put(key: string, body: Readable | Uint8Array, opts: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    if (body instanceof Uint8Array && opts.maxBytes !== undefined && body.length > opts.maxBytes)
      throw new BlobTooLargeError(key, opts.maxBytes);
    const measure = new MeasureStream(key, opts.maxBytes);
    const source = body instanceof Uint8Array ? Readable.from([body]) : body;
    const upload = new Upload({
      client: this.client,
      queueSize: QUEUE_SIZE,
      partSize: PART_SIZE,
      leavePartsOnError: false,
      params: { Bucket: this.bucket, Key: key, Body: measure, ContentType: opts.contentType ?? DEFAULT_CONTENT_TYPE, Metadata: normalizeMetadata(opts.metadata) },
    });
    // a failure on either side stops the other: a source error or the size limit aborts the upload
    // (nothing becomes visible), and a failed upload stops reading the source
    const feeding = pipeline(source, measure);
    const uploading = upload.done().catch((err: unknown) => {
      measure.destroy(err as Error);
      throw err;
    });
    const [fed, uploaded] = await Promise.allSettled([feeding, uploading]);
    if (fed.status === "rejected" || uploaded.status === "rejected") {
      await upload.abort().catch(() => {});
      // the feeding side names the cause (source error, size limit) unless it only saw the upload stop
      const feedErr = fed.status === "rejected" ? (fed.reason as NodeJS.ErrnoException) : undefined;
      if (feedErr && feedErr.code !== "ERR_STREAM_PREMATURE_CLOSE") throw feedErr;
      throw uploaded.status === "rejected" ? uploaded.reason : feedErr;
    }
    return { key, bytes: measure.bytes, sha256: measure.digest() };
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    assertValidKey(key);
    let range: string | undefined;
    if (opts.range) {
      const r = resolveRange(opts.range, Number.POSITIVE_INFINITY);
      if ("reason" in r) throw new InvalidRangeError(key, opts.range, r.reason);
      range = `bytes=${opts.range.start}-${opts.range.end ?? ""}`;
    }
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
      return res.Body as Readable;
    } catch (err) {
      if (awsName(err) === "NoSuchKey" || awsStatus(err) === 404) throw new BlobNotFoundError(key);
      if (opts.range && (awsName(err) === "InvalidRange" || awsStatus(err) === 416))
        throw new InvalidRangeError(key, opts.range, "start is past the end of the object");
      throw err;
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    assertValidKey(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        bytes: res.ContentLength ?? 0,
        modifiedAt: res.LastModified ?? new Date(0),
        contentType: res.ContentType,
        metadata: res.Metadata && Object.keys(res.Metadata).length > 0 ? res.Metadata : undefined,
      };
    } catch (err) {
      if (awsName(err) === "NotFound" || awsName(err) === "NoSuchKey" || awsStatus(err) === 404) return null;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    assertValidPrefix(prefix);
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix || undefined, ContinuationToken: token }),
      );
      for (const o of res.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, bytes: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async deletePrefix(prefix: string): Promise<number> {
    let count = 0;
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const errors = res.Errors ?? [];
      if (errors.length > 0)
        throw new Error(`could not delete ${errors.length} objects under ${JSON.stringify(prefix)}: ${errors[0].Key}: ${errors[0].Message}`);
      count += batch.length;
      batch = [];
    };
    // S3 lists keys in order, so deleting what was listed does not make the listing skip keys
    for await (const info of this.list(prefix)) {
      batch.push(info.key);
      if (batch.length === 1000) await flush(); // DeleteObjects' limit
    }
    await flush();
    return count;
  }

  async presignedGetUrl(key: string, opts: { expiresInSeconds?: number; fileName?: string } = {}): Promise<string | null> {
    assertValidKey(key);
    const expiresIn = opts.expiresInSeconds ?? 3600;
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_SECONDS)
      throw new RangeError(`expiresInSeconds must be an integer in [1, ${MAX_PRESIGN_SECONDS}] (got ${expiresIn})`);
    const cmd = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ResponseContentDisposition: opts.fileName ? contentDisposition(opts.fileName) : undefined,
    });
    return getSignedUrl(this.client, cmd, { expiresIn });
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /** Creates the bucket unless it exists (dev and tests; production buckets are made by their owners). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (awsName(err) === "BucketAlreadyOwnedByYou" || awsName(err) === "BucketAlreadyExists") return;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
