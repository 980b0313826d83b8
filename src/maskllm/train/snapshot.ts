// Training snapshots as bytes, in the safetensors layout (8-byte LE header length, JSON header, raw data) so any
// safetensors tool can inspect them. Tensors, all F32: "<weight>.logits" [groups, C], "<weight>.adam_m",
// "<weight>.adam_v" (AdamW moments). __metadata__.maskforge_snapshot holds JSON:
// { format, version, step (updates done), steps, seed, pattern, options, rng, targets: [{name, shape}] }.
// There is no RNG state to save: every draw is derived from (seed, step, stream), see rng.ts.
import type { MaskTarget, LogitsMap } from "./logits.js";

export const SNAPSHOT_FORMAT = "maskforge-maskllm-snapshot";
export const SNAPSHOT_VERSION = 1;

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotError";
  }
}

export interface SnapshotState {
  step: number;
  steps: number;
  seed: number;
  pattern: string;
  options: Record<string, unknown>;
  rng: Record<string, string>;
  targets: MaskTarget[];
  logits: LogitsMap;
  m: LogitsMap;
  v: LogitsMap;
}

interface TensorEntry {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Minimal F32-only safetensors writer (the ML core may not import src/checkpoint). */
export function encodeF32Safetensors(tensors: TensorEntry[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // pad so the data starts 8-byte aligned
  json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let pos = 8 + hb.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

/** Reads an F32-only safetensors blob; throws SnapshotError on anything malformed. */
export function decodeF32Safetensors(bytes: Uint8Array): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SnapshotError(`not a safetensors blob: ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.length) throw new SnapshotError(`safetensors header length ${n} exceeds the ${bytes.length}-byte blob`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SnapshotError(`safetensors header is not JSON: ${(e as Error).message}`);
  }
  const dataStart = 8 + n;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, h] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = h?.data_offsets ?? [];
    const shape = h?.shape as number[];
    const numel = Array.isArray(shape) ? shape.reduce((x, y) => x * y, 1) : -1;
    if (h?.dtype !== "F32" || !Number.isInteger(a) || !Number.isInteger(b) || b - a !== numel * 4 || dataStart + b > bytes.length)
      throw new SnapshotError(`safetensors entry ${name} is malformed or not F32`);
    const data = new Float32Array(bytes.slice(dataStart + a, dataStart + b).buffer);
    tensors.set(name, { name, shape, data });
  }
  return { tensors, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
}

export function encodeSnapshot(s: SnapshotState): Uint8Array {
  const tensors: TensorEntry[] = [];
  for (const t of s.targets) {
    for (const [suffix, map] of [["logits", s.logits], ["adam_m", s.m], ["adam_v", s.v]] as const) {
      const data = map.get(t.name);
      if (!data) throw new SnapshotError(`snapshot: missing ${suffix} for ${t.name}`);
      tensors.push({ name: `${t.name}.${suffix}`, shape: [data.length], data });
    }
  }
  const meta = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    step: s.step,
    steps: s.steps,
    seed: s.seed,
    pattern: s.pattern,
    options: s.options,
    rng: s.rng,
    targets: s.targets,
  };
  return encodeF32Safetensors(tensors, { maskforge_snapshot: JSON.stringify(meta) });
}

export function decodeSnapshot(bytes: Uint8Array): SnapshotState {
  const { tensors, metadata } = decodeF32Safetensors(bytes);
  let meta: any;
  try {
    meta = JSON.parse(metadata.maskforge_snapshot ?? "null");
  } catch {
    meta = null;
  }
  if (!meta || meta.format !== SNAPSHOT_FORMAT) throw new SnapshotError("not a maskforge MaskLLM snapshot (missing maskforge_snapshot metadata)");
  if (meta.version !== SNAPSHOT_VERSION) throw new SnapshotError(`snapshot version ${meta.version} is not supported (expected ${SNAPSHOT_VERSION})`);
  const logits: LogitsMap = new Map();
  const m: LogitsMap = new Map();
  const v: LogitsMap = new Map();
  for (const t of meta.targets as MaskTarget[]) {
    for (const [suffix, map] of [["logits", logits], ["adam_m", m], ["adam_v", v]] as const) {
      const e = tensors.get(`${t.name}.${suffix}`);
      if (!e) throw new SnapshotError(`snapshot: missing tensor ${t.name}.${suffix}`);
      map.set(t.name, e.data);
    }
  }
  return { step: meta.step, steps: meta.steps, seed: meta.seed, pattern: meta.pattern, options: meta.options, rng: meta.rng, targets: meta.targets, logits, m, v };
}
