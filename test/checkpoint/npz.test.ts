import { test } from "node:test";
import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { decodeNpy, encodeNpy } from "../../src/checkpoint/npy.js";
import { decodeNpz, encodeNpz } from "../../src/checkpoint/npz.js";
import { decodeMaskNpz, encodeMaskNpz } from "../../src/checkpoint/mask-npz.js";
import { CheckpointError } from "../../src/checkpoint/errors.js";

// 2×8 mask, rows 11001010 / 00110101 → np.packbits gives [0xCA, 0x35]
const MASK_2x8 = Uint8Array.from([1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1]);
const NAME = "model.layers.0.mlp.up_proj.weight";

// np.save(np.packbits(mask)) byte for byte: magic, version 1.0, header length 118 (LE), the header dict padded with
// spaces to 128 bytes in all (incl. the trailing \n), then the two packed bytes.
const DICT = "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }";
const EXPECTED_NPY = Uint8Array.from([
  0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00,
  ...Array.from(DICT, (c) => c.charCodeAt(0)),
  ...new Array(118 - DICT.length - 1).fill(0x20),
  0x0a,
  0xca, 0x35,
]);

// np.savez_compressed(f, **{NAME + ".mask": np.packbits(mask)}) from numpy 2.4.6 (zip64 headers, DEFLATE)
const NUMPY_NPZ_B64 =
  "UEsDBC0AAAAIAAAAIQDoqdbP//////////8qABQAbW9kZWwubGF5ZXJzLjAubWxwLnVwX3Byb2oud2VpZ2h0Lm1hc2subnB5AQAQAIIAAAAAAAAARgAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBeU2qorqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOpo6CrUKFACuU6YAUEsBAi0DLQAAAAgAAAAhAOip1s9GAAAAggAAACoAAAAAAAAAAAAAAIABAAAAAG1vZGVsLmxheWVycy4wLm1scC51cF9wcm9qLndlaWdodC5tYXNrLm5weVBLBQYAAAAAAQABAFgAAACiAAAAAAA=";

test("the .npy of a packed 2×8 mask matches numpy byte for byte", () => {
  assert.equal(EXPECTED_NPY.length, 130);
  const npy = encodeNpy({ descr: "|u1", shape: [2], data: Uint8Array.from([0xca, 0x35]) });
  assert.deepEqual(npy, EXPECTED_NPY);
});

test("mask npz members are DEFLATE-compressed .npy files with the packed bytes", () => {
  const npz = encodeMaskNpz(new Map([[NAME, MASK_2x8]]));
  const files = unzipSync(npz);
  assert.deepEqual(Object.keys(files), [`${NAME}.mask.npy`]);
  assert.deepEqual(files[`${NAME}.mask.npy`], EXPECTED_NPY);
  // compression method 8 (DEFLATE) in the first local file header
  assert.equal(new DataView(npz.buffer, npz.byteOffset).getUint16(8, true), 8);
});

test("mask npz round-trips through our reader, also for sizes that are not a multiple of 8", () => {
  const odd = Uint8Array.from({ length: 3 * 12 }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
  const npz = encodeMaskNpz(new Map<string, Uint8Array>([[NAME, MASK_2x8], ["w.odd", odd]]));
  const back = decodeMaskNpz(npz, new Map([[NAME, 16], ["w.odd", 36]]), { require: true });
  assert.deepEqual(back.get(NAME), MASK_2x8);
  assert.deepEqual(back.get("w.odd"), odd);
});

test("a numpy-written npz (zip64 headers) reads back to the same mask", () => {
  const bytes = new Uint8Array(Buffer.from(NUMPY_NPZ_B64, "base64"));
  assert.deepEqual(decodeNpz(bytes).get(`${NAME}.mask`)?.data, Uint8Array.from([0xca, 0x35]));
  assert.deepEqual(decodeMaskNpz(bytes, new Map([[NAME, 16]])).get(NAME), MASK_2x8);
});

test("bad input gives typed errors", () => {
  const npz = encodeMaskNpz(new Map([[NAME, MASK_2x8]]));
  assert.throws(() => decodeMaskNpz(npz, new Map([[NAME, 64]])), (e: unknown) => e instanceof CheckpointError && e.code === "WRONG_SHAPE");
  assert.throws(() => decodeMaskNpz(npz, new Map([["other.weight", 16]]), { require: true }), (e: unknown) => e instanceof CheckpointError && e.code === "MISSING_TENSOR");
  assert.throws(() => decodeNpz(Uint8Array.from([1, 2, 3])), CheckpointError);
  assert.throws(() => decodeNpy(EXPECTED_NPY.subarray(0, 129)), CheckpointError);
});

test("npy round-trips float32 and multi-dimensional shapes", () => {
  const a = { descr: "<f4" as const, shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -0]) };
  const enc = encodeNpy(a);
  assert.equal((enc.length - 6 * 4) % 64, 0); // data starts 64-byte aligned
  const back = decodeNpy(enc);
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual(back.data, a.data);
  assert.deepEqual(decodeNpz(encodeNpz(new Map([["x", a]]), false)).get("x")?.data, a.data);
});
