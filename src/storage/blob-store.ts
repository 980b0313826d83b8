// The blob store every artifact goes through: checkpoints, calibration files, mask distributions, exported models.
import type { Readable } from "node:stream";

export interface BlobInfo {
  key: string;
  bytes: number;
  /** last modification time */
  modifiedAt: Date;
  contentType?: string;
  /** user metadata stored with the object (sha256 among others) */
  metadata?: Record<string, string>;
}

export interface PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  /** refuse (BlobTooLargeError) and store nothing once more than this many bytes arrive */
  maxBytes?: number;
}

export interface PutResult {
  key: string;
  bytes: number;
  /** hex sha256 of the bytes written */
  sha256: string;
}

export interface GetOptions {
  /** inclusive byte range, as in HTTP Range */
  range?: { start: number; end?: number };
}

export interface BlobStore {
  readonly kind: "local" | "s3";
  /** Streams `body` in; the object appears whole or not at all. */
  put(key: string, body: Readable | Uint8Array, opts?: PutOptions): Promise<PutResult>;
  /** Streams an object (or a byte range of it) out; BlobNotFoundError when missing. */
  get(key: string, opts?: GetOptions): Promise<Readable>;
  /** null when missing */
  head(key: string): Promise<BlobInfo | null>;
  /** every object whose key starts with `prefix` */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** no error when missing */
  delete(key: string): Promise<void>;
  /** deletes every object under `prefix`; returns how many */
  deletePrefix(prefix: string): Promise<number>;
  /** a time-limited GET URL, or null where the backend has none (local) */
  presignedGetUrl(key: string, opts?: { expiresInSeconds?: number; fileName?: string }): Promise<string | null>;
  /** checks the backend answers (readiness) */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`no object at key ${JSON.stringify(key)}`);
    this.name = "BlobNotFoundError";
  }
}

export class InvalidKeyError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`invalid storage key ${JSON.stringify(key)}: ${reason}`);
    this.name = "InvalidKeyError";
  }
}

export class BlobTooLargeError extends Error {
  constructor(readonly key: string, readonly maxBytes: number) {
    super(`object ${JSON.stringify(key)} is larger than the limit of ${maxBytes} bytes`);
    this.name = "BlobTooLargeError";
  }
}

/** A byte range that starts past the end of the object (HTTP 416), or is malformed. */
export class InvalidRangeError extends Error {
  constructor(readonly key: string, readonly range: { start: number; end?: number }, reason: string) {
    super(`invalid range ${range.start}-${range.end ?? ""} for object ${JSON.stringify(key)}: ${reason}`);
    this.name = "InvalidRangeError";
  }
}
