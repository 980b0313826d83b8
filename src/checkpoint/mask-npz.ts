// Hard masks in MaskLLM's released format (tool_compress_mask.py / eval_llama_ppl.py): for each weight,
// key "<weight name>.mask" → np.packbits of the flattened boolean [out, in] mask (row-major, big-endian bits)
// as a 1-D uint8 array of ceil(numel/8) bytes, all in one np.savez_compressed file (mask_compressed.npz).
import { packBits, unpackBits } from "../maskllm/mask/packbits.js";
import { CheckpointError } from "./errors.js";
import { decodeNpz, encodeNpz } from "./npz.js";
import type { NpyArray } from "./npy.js";

export const MASK_NPZ_FILE = "mask_compressed.npz";
const SUFFIX = ".mask";

/** masks: weight name → 0/1 values over the [out, in] weight, row-major. */
export function encodeMaskNpz(masks: Map<string, ArrayLike<number>>): Uint8Array {
  return encodePackedMaskNpz(new Map([...masks].map(([name, m]) => [name, packBits(m)])));
}

/** The same file from masks already packed (packBits), as a streamed prune keeps them: 1 bit a weight. */
export function encodePackedMaskNpz(packed: Map<string, Uint8Array>): Uint8Array {
  const arrays = new Map<string, NpyArray>();
  for (const [name, data] of packed) arrays.set(`${name}${SUFFIX}`, { descr: "|u1", shape: [data.length], data });
  return encodeNpz(arrays);
}

/**
 * Reads masks back; numel gives each weight's element count (the packing loses it). Keys without ".mask" are
 * ignored; a mask whose size does not fit its weight, or a weight without a mask when `require` is set, is an error.
 * Also accepts unpacked boolean/uint8 arrays of the full weight size (MaskLLM's .pt dicts converted with np.savez).
 */
export function decodeMaskNpz(bytes: Uint8Array, numel: Map<string, number>, opts: { require?: boolean } = {}): Map<string, Uint8Array> {
  const arrays = decodeNpz(bytes, "mask npz");
  const out = new Map<string, Uint8Array>();
  for (const [key, a] of arrays) {
    if (!key.endsWith(SUFFIX)) continue;
    const name = key.slice(0, -SUFFIX.length);
    const n = numel.get(name);
    if (n === undefined) continue;
    if (a.descr !== "|u1" && a.descr !== "|b1") throw new CheckpointError("BAD_ENTRY", `mask npz: ${key} has dtype ${a.descr}, expected packed uint8`, name);
    const data = a.data as Uint8Array;
    if (data.length === n) out.set(name, Uint8Array.from(data, (v) => (v !== 0 ? 1 : 0)));
    else if (data.length === Math.ceil(n / 8)) out.set(name, unpackBits(data, n));
    else throw new CheckpointError("WRONG_SHAPE", `mask npz: ${key} has ${data.length} bytes; a ${n}-element weight needs ${Math.ceil(n / 8)} packed`, name);
  }
  if (opts.require) for (const name of numel.keys()) if (!out.has(name)) throw new CheckpointError("MISSING_TENSOR", `mask npz has no ${name}${SUFFIX}`, name);
  return out;
}
