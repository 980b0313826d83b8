// safetensors: exact float16/bfloat16 conversion, bit-identical round trips (single file and sharded), and
// validation: every malformed file gives a CheckpointError with its code, and fuzzing never yields anything else.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { CheckpointError } from "../../../src/checkpoint/errors.js";
import { bf16BitsToF32, f16BitsToF32, f16BitsToF32Bits, f32BitsToBf16Bits, f32BitsToF16Bits, f32ToBf16Bits, f32ToF16Bits } from "../../../src/checkpoint/safetensors/dtypes.js";
import { SafetensorsReader } from "../../../src/checkpoint/safetensors/reader.js";
import { CheckpointReader } from "../../../src/checkpoint/safetensors/checkpoint.js";
import { bytesSource } from "../../../src/checkpoint/safetensors/source.js";
import { encodeHeader, writeCheckpoint, writeSafetensors, type TensorSpec } from "../../../src/checkpoint/safetensors/writer.js";

const bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const fromBits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];

test("float16 conversion: known values, ties to even, subnormals, Inf, NaN", () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [2 ** -25 * 1.0000001, 0x0001], [3 * 2 ** -25, 0x0002], [1023 * 2 ** -24, 0x03ff],
    [2 ** -14, 0x0400], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [-0, 0x8000], [1e-8, 0x0000],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [x, h] of cases) assert.equal(f32ToF16Bits(x), h, `f16(${x})`);
  assert.equal(f32BitsToF16Bits(0x7fc00000), 0x7e00, "quiet NaN");
  assert.equal(f32BitsToF16Bits(0xffc00000), 0xfe00, "negative NaN");
  assert.equal(f32BitsToF16Bits(0x7f800001), 0x7e00, "a NaN whose payload does not fit stays NaN, not Inf");
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x3555), 0.333251953125);
  assert.equal(f16BitsToF32(0xfbff), -65504);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  // every one of the 65536 patterns survives f16 → f32 → f16, NaN payloads included
  for (let h = 0; h < 0x10000; h++) assert.equal(f32BitsToF16Bits(f16BitsToF32Bits(h)), h);
});

test("bfloat16 conversion: known values, ties to even, subnormals, Inf, NaN", () => {
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(Math.PI), 0x4049);
  assert.equal(f32ToBf16Bits(1 / 3), 0x3eab);
  assert.equal(f32BitsToBf16Bits(0x3f808000), 0x3f80, "tie → even (down)");
  assert.equal(f32BitsToBf16Bits(0x3f818000), 0x3f82, "tie → even (up)");
  assert.equal(f32BitsToBf16Bits(0x7f7fffff), 0x7f80, "max float rounds to Inf");
  assert.equal(f32BitsToBf16Bits(0x00010000), 0x0001, "subnormal");
  assert.equal(f32BitsToBf16Bits(0x00000001), 0x0000);
  assert.equal(f32ToBf16Bits(-Infinity), 0xff80);
  assert.equal(f32BitsToBf16Bits(0x7fc00000), 0x7fc0);
  assert.equal(f32BitsToBf16Bits(0x7f800001), 0x7fc0, "a NaN never truncates into Inf");
  assert.equal(f32BitsToBf16Bits(0xff812345), 0xff81, "NaN payload kept where it fits");
  assert.equal(bf16BitsToF32(0x0001), fromBits(0x00010000));
  assert.equal(bf16BitsToF32(0xc0a0), -5);
  // every pattern survives bf16 → f32 bits → bf16 (the reader widens bit patterns, never through JS numbers,
  // which would quiet signalling NaNs)
  for (let h = 0; h < 0x10000; h++) assert.equal(f32BitsToBf16Bits((h << 16) >>> 0), h);
  assert.equal(bits(bf16BitsToF32(0x3f80)), 0x3f800000);
});

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const SPECS: TensorSpec[] = [
  { name: "a.f32", dtype: "F32", shape: [3, 5] },
  { name: "b.f16", dtype: "F16", shape: [7, 4] },
  { name: "c.bf16", dtype: "BF16", shape: [33] },
  { name: "d.empty", dtype: "F32", shape: [0, 4] },
  { name: "e.mask", dtype: "U8", shape: [2, 8] },
  { name: "f.bool", dtype: "BOOL", shape: [5] },
  { name: "g.ids", dtype: "I64", shape: [3] },
  { name: "h.i32", dtype: "I32", shape: [2, 2] },
  { name: "i.scalar", dtype: "F32", shape: [] },
];

test("round trip read → write → read is bit-identical (raw and via float32), single file and sharded", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "st-rt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = new Map(SPECS.map((s, i) => [s.name, randomBytes(s.shape.reduce((a, b) => a * b, 1) * { F32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1, I64: 8, I32: 4 }[s.dtype], i + 1)]));
  await writeSafetensors(join(dir, "one.safetensors"), SPECS, (s) => data.get(s.name)!, { metadata: { format: "pt" } });
  const r1 = await SafetensorsReader.open(join(dir, "one.safetensors"));
  assert.deepEqual(r1.metadata, { format: "pt" });
  for (const s of SPECS) assert.deepEqual((await r1.readBytes(s.name)).bytes, data.get(s.name), s.name);

  // float tensors through float32 and back (NaN payloads included: the bytes are random)
  const floatSpecs = SPECS.filter((s) => s.dtype === "F32" || s.dtype === "F16" || s.dtype === "BF16");
  await writeSafetensors(join(dir, "two.safetensors"), floatSpecs, async (s) => (await r1.readFloat32(s.name)).values);
  const r2 = await SafetensorsReader.open(join(dir, "two.safetensors"));
  for (const s of floatSpecs) assert.deepEqual((await r2.readBytes(s.name)).bytes, data.get(s.name), `${s.name} via float32`);

  const shardDir = join(dir, "sharded");
  await (await import("node:fs/promises")).mkdir(shardDir);
  const files = await writeCheckpoint(shardDir, SPECS, (s) => data.get(s.name)!, { maxShardBytes: 64 });
  assert.ok(files.length > 3, `several shards: ${files.join(", ")}`);
  assert.deepEqual((await readdir(shardDir)).sort(), [...files].sort(), "no temporary files left");
  const index = JSON.parse(await readFile(join(shardDir, "model.safetensors.index.json"), "utf8"));
  assert.equal(index.metadata.total_size, [...data.values()].reduce((a, b) => a + b.byteLength, 0));
  const cr = await CheckpointReader.open(shardDir);
  assert.deepEqual(cr.names.sort(), SPECS.map((s) => s.name).sort());
  for (const s of SPECS) assert.deepEqual((await cr.readBytes(s.name)).bytes, data.get(s.name), `sharded ${s.name}`);
  await Promise.all([r1.close(), r2.close(), cr.close()]);
});

test("the header is padded to 8 bytes and matches what numpy-style readers expect", () => {
  const h = encodeHeader([{ name: "x", dtype: "F32", shape: [2] }]);
  const n = Number(new DataView(h.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(h.subarray(8))), { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
});

// --- malformed files -------------------------------------------------------------------------------------------
const enc = new TextEncoder();
function file(header: string | Uint8Array, data: Uint8Array | number = 0, lengthOverride?: bigint): Uint8Array {
  const h = typeof header === "string" ? enc.encode(header) : header;
  const d = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.byteLength + d.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  out.set(d, 8 + h.byteLength);
  return out;
}
const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const hdr = (o: unknown) => JSON.stringify(o);

const MALFORMED: { name: string; bytes: Uint8Array; code: string; tensor?: string; says: RegExp }[] = [
  { name: "empty file", bytes: new Uint8Array(0), code: "FILE_TOO_SMALL", says: /only 0 bytes/ },
  { name: "truncated length prefix", bytes: new Uint8Array(5), code: "FILE_TOO_SMALL", says: /8-byte header length/ },
  { name: "header length past the end", bytes: file("{}", 0, 1000n), code: "HEADER_OUT_OF_BOUNDS", says: /past the end/ },
  { name: "header length near 2^64", bytes: file("{}", 0, 2n ** 64n - 1n), code: "HEADER_OUT_OF_BOUNDS", says: /truncated or not safetensors/ },
  { name: "truncated header", bytes: file(hdr({ x: entry("F32", [1], [0, 4]) })).subarray(0, 30), code: "HEADER_OUT_OF_BOUNDS", says: /past the end/ },
  { name: "non-JSON header", bytes: file("this is not json"), code: "HEADER_NOT_JSON", says: /not valid UTF-8 JSON/ },
  { name: "invalid UTF-8 in header", bytes: file(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])), code: "HEADER_NOT_JSON", says: /UTF-8/ },
  { name: "header is a JSON array", bytes: file("[1,2]"), code: "HEADER_NOT_OBJECT", says: /JSON object/ },
  { name: "unknown dtype", bytes: file(hdr({ w: entry("F8_E4M3", [2], [0, 2]) }), 2), code: "UNKNOWN_DTYPE", tensor: "w", says: /F8_E4M3.*supported: F32, F16, BF16/ },
  { name: "shape/bytes mismatch", bytes: file(hdr({ w: entry("F32", [2, 3], [0, 20]) }), 20), code: "SIZE_MISMATCH", tensor: "w", says: /needs 24 bytes.*hold 20/ },
  { name: "overlapping offsets", bytes: file(hdr({ a: entry("F32", [2], [0, 8]), b: entry("F32", [2], [4, 12]) }), 12), code: "OVERLAPPING_TENSORS", tensor: "b", says: /overlap those of 'a'/ },
  { name: "offsets past the data", bytes: file(hdr({ a: entry("F32", [4], [0, 16]) }), 8), code: "OFFSETS_OUT_OF_RANGE", tensor: "a", says: /run past the data area \(8 bytes\)/ },
  { name: "data cut off after the header", bytes: file(hdr({ a: entry("F32", [1000], [0, 4000]) })), code: "OFFSETS_OUT_OF_RANGE", tensor: "a", says: /truncated/ },
  { name: "offsets end before they begin", bytes: file(hdr({ a: entry("U8", [0], [8, 4]) }), 8), code: "BAD_OFFSETS", tensor: "a", says: /end before they begin/ },
  { name: "negative offset", bytes: file(hdr({ a: entry("U8", [4], [-4, 0]) }), 4), code: "BAD_OFFSETS", tensor: "a", says: /non-negative/ },
  { name: "negative dimension", bytes: file(hdr({ a: entry("F32", [-1, 2], [0, 8]) }), 8), code: "BAD_SHAPE", tensor: "a", says: /non-negative integers/ },
  { name: "fractional dimension", bytes: file(hdr({ a: entry("F32", [1.5], [0, 6]) }), 6), code: "BAD_SHAPE", tensor: "a", says: /integers/ },
  { name: "shape product overflow", bytes: file(hdr({ a: entry("F32", [2 ** 30, 2 ** 30, 2 ** 30], [0, 4]) }), 4), code: "SHAPE_OVERFLOW", tensor: "a", says: /more elements than can be addressed/ },
  { name: "duplicate names", bytes: file('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2), code: "DUPLICATE_TENSOR", tensor: "a", says: /appears twice/ },
  { name: "gap between tensors", bytes: file(hdr({ a: entry("U8", [2], [0, 2]), b: entry("U8", [2], [4, 6]) }), 6), code: "NON_CONTIGUOUS", tensor: "b", says: /gap of 2 bytes/ },
  { name: "trailing bytes", bytes: file(hdr({ a: entry("U8", [2], [0, 2]) }), 10), code: "NON_CONTIGUOUS", says: /8 bytes after the last tensor/ },
  { name: "entry is not an object", bytes: file(hdr({ a: 5 })), code: "BAD_ENTRY", tensor: "a", says: /must be an object/ },
  { name: "metadata value not a string", bytes: file(hdr({ __metadata__: { step: 3 } })), code: "BAD_METADATA", says: /step must be a string/ },
  { name: "missing data_offsets", bytes: file(hdr({ a: { dtype: "F32", shape: [1] } }), 4), code: "BAD_OFFSETS", tensor: "a", says: /data_offsets must be \[begin, end\]/ },
];

for (const m of MALFORMED)
  test(`malformed: ${m.name} → ${m.code}`, async () => {
    await assert.rejects(SafetensorsReader.open(bytesSource(m.bytes, "bad.safetensors")), (err: unknown) => {
      assert.ok(err instanceof CheckpointError, `got ${String(err)}`);
      assert.equal(err.code, m.code, err.message);
      assert.equal(err.tensor, m.tensor);
      assert.match(err.message, m.says);
      assert.match(err.message, /^bad\.safetensors: /);
      return true;
    });
  });

test("malformed folders: bad index, stale index, no weights", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "st-bad-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const expectCode = async (code: string, says: RegExp) =>
    assert.rejects(CheckpointReader.open(dir), (e: unknown) => e instanceof CheckpointError && e.code === code && says.test(e.message));
  await expectCode("NO_WEIGHTS", /no model\.safetensors or model\.safetensors\.index\.json/);
  await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { w: "../../etc/passwd" } }));
  await expectCode("BAD_INDEX", /not a \.safetensors file in the same folder/);
  await writeFile(join(dir, "model.safetensors.index.json"), "{ nope");
  await expectCode("BAD_INDEX", /not valid JSON/);
  await writeSafetensors(join(dir, "model-00001-of-00001.safetensors"), [{ name: "a", dtype: "F32", shape: [1] }], () => new Float32Array([1]));
  await writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { a: "model-00001-of-00001.safetensors", b: "model-00001-of-00001.safetensors" } }));
  await expectCode("BAD_INDEX", /does not hold it/);
});

test("the writer refuses bad input and leaves no file behind", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "st-w-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = join(dir, "x.safetensors");
  await assert.rejects(writeSafetensors(p, [{ name: "a", dtype: "F32", shape: [3] }], () => new Float32Array(2)), (e: unknown) => e instanceof CheckpointError && e.code === "SIZE_MISMATCH");
  await assert.rejects(writeSafetensors(p, [{ name: "a", dtype: "F32", shape: [1] }, { name: "a", dtype: "F32", shape: [1] }], () => new Float32Array(1)), (e: unknown) => e instanceof CheckpointError && e.code === "DUPLICATE_TENSOR");
  await assert.rejects(writeSafetensors(p, [{ name: "a", dtype: "I32", shape: [1] }], () => new Float32Array(1)), (e: unknown) => e instanceof CheckpointError && e.code === "BAD_ARGUMENT");
  await assert.rejects(writeSafetensors(p, [{ name: "a", dtype: "F32", shape: [1] }], () => { throw new Error("source failed"); }), /source failed/);
  assert.deepEqual(await readdir(dir), []);
});

// --- fuzzing ---------------------------------------------------------------------------------------------------
async function openAndReadAll(bytes: Uint8Array): Promise<void> {
  try {
    const r = await SafetensorsReader.open(bytesSource(bytes));
    for (const e of r.tensors) await r.readFloat32(e.name);
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw new Error(`not a CheckpointError: ${String(err)}`);
  }
}

const valid = file(
  hdr({ __metadata__: { format: "pt" }, a: entry("F32", [2, 2], [0, 16]), b: entry("BF16", [3], [16, 22]), c: entry("I64", [1], [22, 30]) }),
  30,
);

test("fuzz: random bytes, mutated headers and flipped bytes only ever give CheckpointError", { timeout: 60_000 }, async () => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), openAndReadAll), { numRuns: 300 });
  // a plausible length prefix followed by random bytes reaches the JSON parser
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(220), async (body, len) => openAndReadAll(file(body, 0, BigInt(len)))),
    { numRuns: 300 },
  );
  const anyShape = fc.oneof(fc.array(fc.oneof(fc.integer({ min: -3, max: 40 }), fc.double(), fc.constant(2 ** 53)), { maxLength: 4 }), fc.jsonValue());
  const anyEntry = fc.oneof(
    fc.record({ dtype: fc.constantFrom("F32", "F16", "BF16", "U8", "BOOL", "I32", "I64", "F64", "", 7), shape: anyShape, data_offsets: fc.oneof(fc.tuple(fc.integer({ min: -5, max: 64 }), fc.integer({ min: -5, max: 64 })), fc.jsonValue()) }),
    fc.jsonValue(),
  );
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constant("__metadata__")), anyEntry, { maxKeys: 5 }), fc.nat(64), async (h, dataLen) =>
      openAndReadAll(file(JSON.stringify(h), dataLen)),
    ),
    { numRuns: 500 },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat(valid.byteLength - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(valid.byteLength), async (flips, cut) => {
      const b = valid.slice(0, Math.max(cut, valid.byteLength - 8));
      for (const [i, v] of flips) if (i < b.byteLength) b[i] = v;
      await openAndReadAll(b);
    }),
    { numRuns: 500 },
  );
});
