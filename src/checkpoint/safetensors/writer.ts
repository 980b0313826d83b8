// Streams tensors into safetensors files: the header (which needs every shape up front) is written first, then
// each tensor's bytes are pulled from the caller one at a time, so memory holds one tensor, not the model.
// Files are written under a temporary name and renamed at the end: a failure leaves no half-written checkpoint.
import { open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointError } from "../errors.js";
import { DTYPE_SIZES, float32ToBytes, isDtype, type Dtype } from "./dtypes.js";

export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: number[];
}

/** Raw little-endian bytes of the spec's dtype, or float32 values converted to an F32/F16/BF16 spec. */
export type TensorData = Uint8Array | Float32Array;
export type DataFn = (spec: TensorSpec) => TensorData | Promise<TensorData>;

export interface WriteOptions {
  metadata?: Record<string, string>;
}

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

export function byteLengthOf(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[spec.dtype];
}

function checkSpecs(specs: readonly TensorSpec[]): void {
  const seen = new Set<string>();
  for (const s of specs) {
    if (!s.name || s.name === "__metadata__") throw new CheckpointError("BAD_ARGUMENT", "a tensor name must be non-empty and not __metadata__", s.name);
    if (seen.has(s.name)) throw new CheckpointError("DUPLICATE_TENSOR", "given twice to the writer", s.name);
    seen.add(s.name);
    if (!isDtype(s.dtype)) throw new CheckpointError("UNKNOWN_DTYPE", `cannot write dtype ${String(s.dtype)}`, s.name);
    if (!s.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError("BAD_SHAPE", `bad shape ${JSON.stringify(s.shape)}`, s.name);
  }
}

function toBytes(spec: TensorSpec, data: TensorData): Uint8Array {
  let bytes: Uint8Array;
  if (data instanceof Float32Array) {
    if (spec.dtype !== "F32" && spec.dtype !== "F16" && spec.dtype !== "BF16")
      throw new CheckpointError("BAD_ARGUMENT", `float32 values given for a ${spec.dtype} tensor; pass raw bytes`, spec.name);
    bytes = float32ToBytes(data, spec.dtype);
  } else bytes = data;
  if (bytes.byteLength !== byteLengthOf(spec))
    throw new CheckpointError("SIZE_MISMATCH", `shape ${JSON.stringify(spec.shape)} of ${spec.dtype} needs ${byteLengthOf(spec)} bytes, got ${bytes.byteLength}`, spec.name);
  return bytes;
}

/** The header bytes (length prefix included), padded with spaces to a multiple of 8 as the reference writer does. */
export function encodeHeader(specs: readonly TensorSpec[], metadata?: Record<string, string>): Uint8Array {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) obj.__metadata__ = metadata;
  let offset = 0;
  for (const s of specs) {
    const n = byteLengthOf(s);
    obj[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

// what the caller's data function throws is the caller's error (a pruner refusing its input, say), not a failed write
const fromData = new WeakSet<object>();
const asWriteError = (err: unknown, path: string) =>
  err instanceof CheckpointError || (typeof err === "object" && err !== null && fromData.has(err)) ? err : new CheckpointError("WRITE_FAILED", (err as Error).message, undefined, path);

async function writeFileStreaming(tmpPath: string, specs: readonly TensorSpec[], data: DataFn, metadata?: Record<string, string>): Promise<void> {
  const fh = await open(tmpPath, "w");
  try {
    await fh.write(encodeHeader(specs, metadata));
    for (const s of specs) {
      const values = await Promise.resolve().then(() => data(s)).catch((err: unknown) => {
        if (typeof err === "object" && err !== null) fromData.add(err);
        throw err;
      });
      const bytes = toBytes(s, values);
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
        done += bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
}

/** One safetensors file at `path`. */
export async function writeSafetensors(path: string, specs: readonly TensorSpec[], data: DataFn, opts: WriteOptions = {}): Promise<void> {
  checkSpecs(specs);
  const tmp = `${path}.partial-${process.pid}`;
  try {
    await writeFileStreaming(tmp, specs, data, opts.metadata);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw asWriteError(err, path);
  }
}

/** Groups tensors in order into shards of at most maxShardBytes of data (a larger tensor gets a shard of its own). */
export function planShards(specs: readonly TensorSpec[], maxShardBytes: number): TensorSpec[][] {
  const shards: TensorSpec[][] = [];
  let cur: TensorSpec[] = [];
  let size = 0;
  for (const s of specs) {
    const n = byteLengthOf(s);
    if (cur.length > 0 && size + n > maxShardBytes) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(s);
    size += n;
  }
  if (cur.length > 0 || shards.length === 0) shards.push(cur);
  return shards;
}

/**
 * A HF checkpoint in `dir`: model.safetensors, or, when the data exceed maxShardBytes, shards
 * model-0000i-of-0000n.safetensors plus model.safetensors.index.json (metadata.total_size, weight_map).
 */
export async function writeCheckpoint(dir: string, specs: readonly TensorSpec[], data: DataFn, opts: WriteOptions & { maxShardBytes?: number } = {}): Promise<string[]> {
  checkSpecs(specs);
  const shards = planShards(specs, opts.maxShardBytes ?? Infinity);
  if (shards.length === 1) {
    await writeSafetensors(join(dir, SINGLE_FILE), specs, data, opts);
    return [SINGLE_FILE];
  }
  const n = shards.length;
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`);
  const written: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const tmp = join(dir, `${names[i]}.partial-${process.pid}`);
      written.push(tmp);
      await writeFileStreaming(tmp, shards[i], data, opts.metadata);
    }
    const weightMap: Record<string, string> = {};
    shards.forEach((sh, i) => sh.forEach((s) => (weightMap[s.name] = names[i])));
    const total = specs.reduce((a, s) => a + byteLengthOf(s), 0);
    const indexTmp = join(dir, `${INDEX_FILE}.partial-${process.pid}`);
    written.push(indexTmp);
    const fh = await open(indexTmp, "w");
    try {
      await fh.write(JSON.stringify({ metadata: { total_size: total, ...(opts.metadata ?? {}) }, weight_map: weightMap }, null, 2) + "\n");
    } finally {
      await fh.close();
    }
    for (let i = 0; i < n; i++) await rename(written[i], join(dir, names[i]));
    await rename(indexTmp, join(dir, INDEX_FILE));
  } catch (err) {
    await Promise.all(written.map((p) => rm(p, { force: true })));
    throw asWriteError(err, dir);
  }
  return [...names, INDEX_FILE];
}
