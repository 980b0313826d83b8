// Layer-by-layer pruning from a bf16 sharded checkpoint into a new one: same names, shapes and dtypes, untouched
// tensors byte for byte, targeted weights exactly 2:4 and equal to the in-memory pruner's; a failure leaves no files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tensor } from "@tensorflow/tfjs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../src/maskllm/backend.js";
import { disposeModel, type LlamaModel } from "../../src/maskllm/llama/model.js";
import { computeOneShotMasks } from "../../src/maskllm/prune/oneshot.js";
import { InlineExecutor } from "../../src/maskllm/host/ops.js";
import { verifyNMMask } from "../../src/maskllm/mask/verify.js";
import { pruneCheckpointStreaming } from "../../src/checkpoint/prune-streaming.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { writeCheckpoint, INDEX_FILE } from "../../src/checkpoint/safetensors/writer.js";
import { bf16BitsToF32, f32ToBf16Bits } from "../../src/checkpoint/safetensors/dtypes.js";
import { tinyLlama } from "../helpers/tiny-llama.js";

let model: LlamaModel;
let dir: string;
const pattern = { n: 2, m: 4 };
const calib = Array.from({ length: 4 }, (_, w) => Int32Array.from({ length: 12 }, (_, i) => (i * 7 + w * 13 + 1) % 64));

before(async () => {
  await initBackend("wasm");
  dir = await mkdtemp(join(tmpdir(), "prune-streaming-"));
  const m = tinyLlama({ seed: 9, layers: 3, hidden: 32, intermediate: 64, config: { tieWordEmbeddings: false } });
  // the model as a bf16 checkpoint would hold it: every value rounded to bf16 first, so both pruners see the same
  model = { config: m.config, weights: new Map([...m.weights].map(([k, t]) => [k, t.clone()])) };
  for (const [k, t] of m.weights) {
    const v = Float32Array.from(t.dataSync() as Float32Array, (x) => bf16BitsToF32(f32ToBf16Bits(x)));
    model.weights.get(k)!.dispose();
    model.weights.set(k, tensor(v, t.shape));
  }
  disposeModel(m);
  const src = join(dir, "src");
  await mkdir(src);
  const specs = [...model.weights].map(([name, t]) => ({ name, dtype: "BF16" as const, shape: t.shape }));
  await writeCheckpoint(src, specs, (s) => model.weights.get(s.name)!.dataSync() as Float32Array, { maxShardBytes: 20_000, metadata: { format: "pt" } });
});
after(async () => {
  disposeModel(model);
  await rm(dir, { recursive: true, force: true });
});

test("a bf16 sharded checkpoint is pruned layer by layer into one of the same layout, equal to the in-memory result", async () => {
  const out = join(dir, "wanda");
  await mkdir(out);
  const seen: number[] = [];
  const { files, report } = await pruneCheckpointStreaming(join(dir, "src"), out, model.config, calib, { method: "wanda", pattern, executor: new InlineExecutor(), maxShardBytes: 20_000, onLayer: (l) => void seen.push(l.layer) });
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(report.allVerified, true);
  assert.ok(files.includes(INDEX_FILE) && files.length > 2, `sharded: ${files.join(", ")}`);
  assert.deepEqual((await readdir(out)).sort(), [...files].sort(), "nothing but the checkpoint's files");
  const index = JSON.parse(await readFile(join(out, INDEX_FILE), "utf8"));
  assert.equal(index.metadata.format, "pt");

  const ref = await computeOneShotMasks(model, calib, { method: "wanda", pattern, batchSize: 4 });
  const src = await CheckpointReader.open(join(dir, "src"));
  const dst = await CheckpointReader.open(out);
  try {
    assert.deepEqual(dst.names.sort(), src.names.sort());
    for (const name of src.names) {
      const e = await dst.entry(name);
      assert.equal(e.dtype, "BF16", name);
      assert.deepEqual(e.shape, (await src.entry(name)).shape);
      const mask = ref.masks.get(name);
      if (!mask) {
        assert.ok(Buffer.from((await dst.readBytes(name)).bytes).equals(Buffer.from((await src.readBytes(name)).bytes)), `${name} copied as it was`);
        continue;
      }
      const got = (await dst.readFloat32(name)).values;
      const dense = (await src.readFloat32(name)).values;
      const [rows, cols] = e.shape;
      const kept = Uint8Array.from(got, (v) => (v !== 0 ? 1 : 0));
      assert.ok(verifyNMMask(kept, rows, cols, pattern).ok, `${name} is 2:4`);
      let agree = 0;
      for (let i = 0; i < got.length; i++) {
        if (kept[i]) assert.equal(got[i], dense[i], `${name}[${i}] kept as it was`);
        if (kept[i] === mask[i]) agree++;
      }
      assert.ok(agree / got.length > 0.995, `${name}: ${agree}/${got.length} mask entries agree with the in-memory pruner`);
    }
  } finally {
    await src.close();
    await dst.close();
  }
});

test("a source that fails mid-way leaves no checkpoint files behind", async () => {
  const out = join(dir, "broken");
  await mkdir(out);
  // layer 1 holds a tensor of the wrong size: layer 0 is written by then, and must not stay
  const bad = join(dir, "bad-src");
  await mkdir(bad);
  const specs = [...model.weights].map(([name, t]) => ({ name, dtype: "BF16" as const, shape: name === "model.layers.1.mlp.up_proj.weight" ? [4, 4] : t.shape }));
  await writeCheckpoint(bad, specs, (s) => (s.name === "model.layers.1.mlp.up_proj.weight" ? new Float32Array(16) : (model.weights.get(s.name)!.dataSync() as Float32Array)), { maxShardBytes: 20_000 });
  await assert.rejects(pruneCheckpointStreaming(bad, out, model.config, calib, { method: "wanda", pattern, executor: new InlineExecutor(), maxShardBytes: 20_000 }), /layers\.1\.mlp\.up_proj\.weight has 16 values/);
  assert.deepEqual(await readdir(out), []);
});
