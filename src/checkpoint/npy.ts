// numpy's .npy format, version 1.0 (what np.save writes for small headers): magic "\x93NUMPY", version 1 0,
// uint16 LE header length, then an ASCII dict "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
// padded with spaces and a final "\n" so the data starts at a multiple of 64 bytes; data C-order, little-endian.
import { CheckpointError } from "./errors.js";

export type NpyDescr = "|u1" | "|b1" | "<f4" | "<i4";
export type NpyData = Uint8Array | Float32Array | Int32Array;

export interface NpyArray {
  descr: NpyDescr;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM_SIZE: Record<NpyDescr, number> = { "|u1": 1, "|b1": 1, "<f4": 4, "<i4": 4 };

/** numpy's repr of a shape tuple: () (3,) (2, 3). */
function shapeRepr(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

export function encodeNpy(a: NpyArray): Uint8Array {
  const numel = a.shape.reduce((x, y) => x * y, 1);
  if (a.data.length !== numel) throw new CheckpointError("BAD_SHAPE", `npy: ${a.data.length} values for shape ${shapeRepr(a.shape)}`);
  let dict = `{'descr': '${a.descr}', 'fortran_order': False, 'shape': ${shapeRepr(a.shape)}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, " ") + "\n";
  const body = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(total + body.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out.set(body, total);
  return out;
}

/** Reads .npy versions 1.0-3.0 with the dtypes above, C order only. */
export function decodeNpy(bytes: Uint8Array, name = "array"): NpyArray {
  const bad = (msg: string) => new CheckpointError("BAD_ENTRY", `npy ${name}: ${msg}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad("missing the \\x93NUMPY magic");
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let start: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad("truncated header");
    hlen = dv.getUint32(8, true);
    start = 12;
  } else throw bad(`unsupported version ${major}.${bytes[7]}`);
  if (start + hlen > bytes.length) throw bad("header runs past the end");
  const header = new TextDecoder().decode(bytes.subarray(start, start + hlen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`unreadable header ${JSON.stringify(header)}`);
  if (!(descr in ITEM_SIZE)) throw bad(`dtype ${descr} is not supported (|u1, |b1, <f4, <i4)`);
  if (fortran === "True") throw bad("Fortran-ordered arrays are not supported");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`bad shape (${shapeText})`);
  const numel = shape.reduce((x, y) => x * y, 1);
  const d = descr as NpyDescr;
  const dataStart = start + hlen;
  const byteLength = numel * ITEM_SIZE[d];
  if (dataStart + byteLength !== bytes.length) throw bad(`expected ${byteLength} data bytes, found ${bytes.length - dataStart}`);
  const raw = bytes.slice(dataStart, dataStart + byteLength);
  const data = d === "<f4" ? new Float32Array(raw.buffer) : d === "<i4" ? new Int32Array(raw.buffer) : raw;
  return { descr: d, shape, data };
}
