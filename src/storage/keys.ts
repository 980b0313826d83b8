// Key rules shared by every backend, so a key that works on S3 in production also works on the local
// store in tests, and no key can name a path outside the local root; and the layout of the keys the service
// writes, so the API (uploads) and the worker (job outputs, cleanup) name the same objects the same way.
import { InvalidKeyError } from "./blob-store.js";

// ---------------------------------------------------------------------------------------------------------
// Layout: checkpoints/<id>/<file>, files/<id>, jobs/<id>/{model/<file>, masks/<file>, snapshots/step-<n>}

/** Everything an uploaded checkpoint holds: its folder's files by name. */
export const checkpointPrefix = (checkpointId: string) => `checkpoints/${checkpointId}/`;
export const checkpointFileKey = (checkpointId: string, file: string) => `${checkpointPrefix(checkpointId)}${file}`;
/** An uploaded calibration or evaluation text. */
export const dataFileKey = (fileId: string) => `files/${fileId}`;
/** Everything a job stored: removed whole when it fails or is cancelled. */
export const jobPrefix = (jobId: string) => `jobs/${jobId}/`;
/** The exported folder of a job, one key per file. */
export const jobModelPrefix = (jobId: string) => `${jobPrefix(jobId)}model/`;
export const jobModelKey = (jobId: string, file: string) => `${jobModelPrefix(jobId)}${file}`;
/**
 * A job's mask file that is no part of the model (mask_logits.safetensors): outside the model's prefix, so that
 * whoever fetches the model folder gets only what a loader loads.
 */
export const jobMaskKey = (jobId: string, file: string) => `${jobPrefix(jobId)}masks/${file}`;
/** A training job's snapshots: the job's snapshot artifact row names the latest, which a later attempt resumes from. */
export const jobSnapshotPrefix = (jobId: string) => `${jobPrefix(jobId)}snapshots/`;
/**
 * The snapshot taken after `step`: a new key each time, never written over, so that an upload cut short (a killed
 * worker) cannot spoil the snapshot the row still names.
 */
export const jobSnapshotKey = (jobId: string, step: number) => `${jobSnapshotPrefix(jobId)}step-${String(step).padStart(8, "0")}`;

// ---------------------------------------------------------------------------------------------------------
// Rules

/** S3's own limit on a key, in UTF-8 bytes */
export const MAX_KEY_BYTES = 1024;
/** most filesystems refuse longer names */
export const MAX_SEGMENT_BYTES = 255;
/** first segments the local store keeps for itself (temp files, metadata sidecars) */
export const RESERVED_ROOT_SEGMENTS: ReadonlySet<string> = new Set([".tmp", ".meta"]);

// NUL and the other C0 controls, DEL: unsafe in file names and in S3 XML listings
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkChars(key: string, what: string): void {
  if (typeof key !== "string") throw new InvalidKeyError(String(key), `${what} must be a string`);
  if (Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) throw new InvalidKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  if (CONTROL.test(key)) throw new InvalidKeyError(key, "contains a control character (NUL or below 0x20)");
  if (key.includes("\\")) throw new InvalidKeyError(key, "contains a backslash");
  if (key.startsWith("/")) throw new InvalidKeyError(key, "is an absolute path");
  if (/^[A-Za-z]:/.test(key)) throw new InvalidKeyError(key, "starts with a drive letter");
}

function checkSegment(key: string, segment: string, index: number): void {
  if (segment === "") throw new InvalidKeyError(key, "has an empty segment (leading, trailing or doubled '/')");
  if (segment === "." || segment === "..") throw new InvalidKeyError(key, `has a '${segment}' segment`);
  if (Buffer.byteLength(segment, "utf8") > MAX_SEGMENT_BYTES) throw new InvalidKeyError(key, `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  if (index === 0 && RESERVED_ROOT_SEGMENTS.has(segment)) throw new InvalidKeyError(key, `'${segment}/' is reserved by the store`);
}

/** Throws InvalidKeyError unless `key` is a relative, '/'-separated path with no empty, '.' or '..' segments. */
export function assertValidKey(key: string): string {
  checkChars(key, "key");
  if (key === "") throw new InvalidKeyError(key, "is empty");
  key.split("/").forEach((s, i) => checkSegment(key, s, i));
  return key;
}

/**
 * A list/delete prefix: "" (everything), a folder ("runs/1/") or any start of a key ("runs/1/ma").
 * Its complete segments follow the key rules; the last, partial one only the character rules.
 */
export function assertValidPrefix(prefix: string): string {
  checkChars(prefix, "prefix");
  if (prefix === "") return prefix;
  const segments = prefix.split("/");
  segments.slice(0, -1).forEach((s, i) => checkSegment(prefix, s, i));
  return prefix;
}
