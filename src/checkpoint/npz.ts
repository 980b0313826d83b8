// numpy's .npz: a zip of "<key>.npy" members; np.savez_compressed uses DEFLATE (zlib's default level 6), which
// fflate writes here. Reading accepts stored and deflated members, as np.load does.
import { unzipSync, zipSync, type Zippable } from "fflate";
import { CheckpointError } from "./errors.js";
import { decodeNpy, encodeNpy, type NpyArray } from "./npy.js";

export function encodeNpz(arrays: Map<string, NpyArray>, compress = true): Uint8Array {
  const files: Zippable = {};
  for (const [key, a] of arrays) {
    if (!key || key.includes("\0")) throw new CheckpointError("BAD_ARGUMENT", `npz: bad key ${JSON.stringify(key)}`);
    files[`${key}.npy`] = [encodeNpy(a), { level: compress ? 6 : 0 }];
  }
  // a fixed timestamp keeps the bytes reproducible for the same masks
  return zipSync(files, { mtime: new Date("1980-01-01T00:00:00Z") });
}

export function decodeNpz(bytes: Uint8Array, name = "npz"): Map<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new CheckpointError("BAD_ENTRY", `${name}: not a readable zip (${(e as Error).message})`);
  }
  const out = new Map<string, NpyArray>();
  for (const [member, data] of Object.entries(files)) {
    if (!member.endsWith(".npy")) continue;
    const key = member.slice(0, -4);
    out.set(key, decodeNpy(data, `${name}:${member}`));
  }
  return out;
}
