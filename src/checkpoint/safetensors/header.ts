// Parses and validates a safetensors header: 8-byte little-endian length, then a JSON object
// { name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str} } whose offsets tile the data area.
import { CheckpointError } from "../errors.js";
import { DTYPES, DTYPE_SIZES, isDtype, type Dtype } from "./dtypes.js";

/** The reference implementation refuses headers over 100 MB; so do we, before allocating. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** offset of the first byte in the file */
  fileOffset: number;
  byteLength: number;
}

export interface Header {
  tensors: TensorEntry[];
  metadata: Record<string, string>;
  /** where the data area starts (8 + header length) */
  dataStart: number;
}

/** Reads the 8-byte prefix; returns the header's length after bounds checks. */
export function headerLength(prefix: Uint8Array, fileSize: number, file?: string): number {
  if (fileSize < 8 || prefix.byteLength < 8)
    throw new CheckpointError("FILE_TOO_SMALL", `a safetensors file starts with an 8-byte header length, but the file has only ${fileSize} bytes`, undefined, file);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8))
    throw new CheckpointError("HEADER_OUT_OF_BOUNDS", `the header length (${n} bytes) runs past the end of the file (${fileSize} bytes): the file is truncated or not safetensors`, undefined, file);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new CheckpointError("HEADER_TOO_LARGE", `the header is ${n} bytes, over the ${MAX_HEADER_BYTES}-byte limit`, undefined, file);
  if (n < 2n) throw new CheckpointError("HEADER_NOT_JSON", `the header is ${n} bytes long, too short for a JSON object`, undefined, file);
  return Number(n);
}

// JSON.parse keeps the last of duplicate keys silently; a checkpoint with two tensors of one name is ambiguous,
// so the top-level keys are scanned separately.
function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      const start = i;
      for (i++; i < json.length && json[i] !== '"'; i++) if (json[i] === "\\") i++;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(json.slice(start, i + 1)) as string);
        expectKey = false;
      }
    } else if (ch === "{" || ch === "[") {
      depth++;
      if (depth === 1 && ch === "{") expectKey = true;
    } else if (ch === "}" || ch === "]") depth--;
    else if (ch === "," && depth === 1) expectKey = true;
  }
  return keys;
}

const isNonNegInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Validates the header JSON against a data area of `dataSize` bytes. */
export function parseHeader(headerBytes: Uint8Array, dataStart: number, dataSize: number, file?: string): Header {
  let text: string;
  let raw: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
    raw = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError("HEADER_NOT_JSON", `the header is not valid UTF-8 JSON (${(err as Error).message})`, undefined, file);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new CheckpointError("HEADER_NOT_OBJECT", "the header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}", undefined, file);
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw new CheckpointError("DUPLICATE_TENSOR", "the name appears twice in the header", k, file);
    seen.add(k);
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry))
        throw new CheckpointError("BAD_METADATA", "__metadata__ must be an object of string values", undefined, file);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== "string") throw new CheckpointError("BAD_METADATA", `__metadata__.${k} must be a string, got ${typeof v}`, undefined, file);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry))
      throw new CheckpointError("BAD_ENTRY", "the entry must be an object {dtype, shape, data_offsets}", name, file);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype))
      throw new CheckpointError("UNKNOWN_DTYPE", `dtype ${JSON.stringify(dtype)} is not supported (supported: ${DTYPES.join(", ")})`, name, file);
    if (!Array.isArray(shape) || !shape.every(isNonNegInt))
      throw new CheckpointError("BAD_SHAPE", `shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, name, file);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt))
      throw new CheckpointError("BAD_OFFSETS", `data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`, name, file);
    let count = 1;
    for (const d of shape) {
      count *= d;
      if (!Number.isSafeInteger(count * DTYPE_SIZES[dtype]))
        throw new CheckpointError("SHAPE_OVERFLOW", `shape ${JSON.stringify(shape)} has more elements than can be addressed`, name, file);
    }
    const [begin, end] = offsets as number[];
    if (begin > end) throw new CheckpointError("BAD_OFFSETS", `data_offsets [${begin}, ${end}] end before they begin`, name, file);
    if (end > dataSize)
      throw new CheckpointError("OFFSETS_OUT_OF_RANGE", `data_offsets [${begin}, ${end}] run past the data area (${dataSize} bytes): the file is truncated or corrupt`, name, file);
    const byteLength = count * DTYPE_SIZES[dtype];
    if (end - begin !== byteLength)
      throw new CheckpointError("SIZE_MISMATCH", `shape ${JSON.stringify(shape)} of ${dtype} needs ${byteLength} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`, name, file);
    tensors.push({ name, dtype, shape: shape as number[], fileOffset: dataStart + begin, byteLength });
  }
  const sorted = [...tensors].sort((a, b) => a.fileOffset - b.fileOffset || a.byteLength - b.byteLength);
  let pos = dataStart;
  for (const t of sorted) {
    if (t.fileOffset < pos) {
      const other = sorted.find((o) => o !== t && o.fileOffset <= t.fileOffset && o.fileOffset + o.byteLength > t.fileOffset);
      throw new CheckpointError("OVERLAPPING_TENSORS", `its bytes overlap those of '${other?.name ?? "another tensor"}'`, t.name, file);
    }
    if (t.fileOffset > pos)
      throw new CheckpointError("NON_CONTIGUOUS", `there is a gap of ${t.fileOffset - pos} bytes before this tensor's data (offsets must be contiguous)`, t.name, file);
    pos += t.byteLength;
  }
  if (pos !== dataStart + dataSize)
    throw new CheckpointError("NON_CONTIGUOUS", `${dataStart + dataSize - pos} bytes after the last tensor belong to no tensor`, undefined, file);
  return { tensors, metadata, dataStart };
}
