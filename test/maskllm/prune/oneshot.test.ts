import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { embed, decoderLayer, forward, linearWeightNames, disposeModel } from "../../../src/maskllm/llama/model.js";
import { computeOneShotMasks, type OneShotMethod } from "../../../src/maskllm/prune/oneshot.js";
import { selectLayers, matchesAny } from "../../../src/maskllm/prune/select-layers.js";
import { PruneInputError } from "../../../src/maskllm/prune/errors.js";
import { verifyNMMask, zerosMatchMask } from "../../../src/maskllm/mask/verify.js";
import { nmMaskFromScores } from "../../../src/maskllm/mask/select.js";
import { wandaScores } from "../../../src/maskllm/prune/scores.js";
import * as statsModule from "../../../src/maskllm/prune/calibration-stats.js";
import { tinyLlama, tinyLlamaConfig, tinyWindows } from "../../helpers/tiny-llama.js";

const tinyModel = (seed: number, o: { intermediate?: number } = {}) => tinyLlama({ seed, hidden: 16, heads: 4, intermediate: o.intermediate ?? 24 });

before(async () => {
  await initBackend("wasm");
});

const runs: Array<{ method: OneShotMethod; update: boolean }> = [
  { method: "magnitude", update: false },
  { method: "wanda", update: false },
  { method: "sparsegpt", update: false },
  { method: "sparsegpt", update: true },
];

test("every mask of every method is exactly N:M for 2:4, 1:4 and 4:8, the pruned zeros are exact, and no tensor leaks", async () => {
  const model = tinyModel(3);
  const windows = tinyWindows(6, 12, model.config.vocabSize);
  const before = new Map([...model.weights].map(([k, t]) => [k, t.dataSync().slice()]));
  const names = linearWeightNames(model.config);
  // the model caches RoPE tables and causal masks per sequence length: warm them before counting tensors
  tf.tidy(() => forward(model, tf.tensor2d(windows[0], [1, 12], "int32")));
  for (const pattern of [{ n: 2, m: 4 }, { n: 1, m: 4 }, { n: 4, m: 8 }]) {
    for (const { method, update } of runs) {
      const tensors = tf.memory().numTensors;
      const r = await computeOneShotMasks(model, windows, { method, pattern, update, batchSize: 4 });
      assert.equal(tf.memory().numTensors, tensors, `${method} leaked tensors`);
      const what = `${method}${update ? "+update" : ""} ${pattern.n}:${pattern.m}`;
      assert.deepEqual([...r.masks.keys()].sort(), [...names].sort(), what);
      assert.equal(r.report.allVerified, true, what);
      assert.equal(r.report.layers.length, names.length);
      for (const name of names) {
        const [rows, cols] = r.shapes.get(name)!;
        const mask = r.masks.get(name)!;
        assert.ok(verifyNMMask(mask, rows, cols, pattern).ok, `${what} ${name}`);
        const l = r.report.layers.find((x) => x.name === name)!;
        assert.ok(Math.abs(l.sparsity - (pattern.m - pattern.n) / pattern.m) < 1e-9, `${what} ${name} sparsity ${l.sparsity}`);
        assert.ok(l.relError !== null && l.relError > 0 && l.relError < 2, `${what} ${name} relError ${l.relError}`);
        if (update) {
          const w = r.weights!.get(name)!;
          assert.ok(zerosMatchMask(w, mask));
          for (let i = 0; i < w.length; i++) if (!mask[i]) assert.ok(Object.is(w[i], 0), `${name}[${i}] = ${w[i]}`);
          assert.ok(Number.isFinite(l.loss!));
        } else assert.equal(r.weights, undefined);
      }
    }
  }
  for (const [k, t] of model.weights) assert.deepEqual(t.dataSync(), before.get(k), `${k} was modified`);
  disposeModel(model);
});

test("calibration is sequential: block 1's Wanda statistics come from inputs through the pruned block 0", async () => {
  const model = tinyModel(5);
  const windows = tinyWindows(4, 10, model.config.vocabSize, 11);
  const pattern = { n: 2, m: 4 };
  const r = await computeOneShotMasks(model, windows, { method: "wanda", pattern, batchSize: 4 });
  const q1 = "model.layers.1.self_attn.q_proj.weight";
  // recompute by hand: block 0 with its Wanda masks, then the column norms of q_proj's input in block 1
  const masks = new Map([...r.masks].filter(([k]) => k.startsWith("model.layers.0.")).map(([k, m]) => [k, tf.tensor2d(Float32Array.from(m), r.shapes.get(k)!)]));
  const flat = new Int32Array(40);
  windows.forEach((w, i) => flat.set(w, i * 10));
  const sq = new Float64Array(model.config.hiddenSize);
  const dense = new Float64Array(model.config.hiddenSize);
  tf.tidy(() => {
    const h0 = embed(model, tf.tensor2d(flat, [4, 10], "int32"));
    const collect = (into: Float64Array) => (name: string, x: tf.Tensor2D) => {
      if (name === q1) tf.sum(tf.square(x), 0).dataSync().forEach((v, j) => (into[j] += v));
    };
    decoderLayer(model, 1, decoderLayer(model, 0, h0, { mask: (n) => masks.get(n) }), { onLinearInput: collect(sq) });
    decoderLayer(model, 1, decoderLayer(model, 0, h0), { onLinearInput: collect(dense) });
  });
  // the reported reconstruction error of block 0's q_proj, directly: its input is the same dense or pruned
  const q0 = "model.layers.0.self_attn.q_proj.weight";
  const direct = tf.tidy(() => {
    let x: tf.Tensor2D | undefined;
    const grab = (name: string, t: tf.Tensor2D) => { if (name === q0) x = tf.keep(t.clone()); };
    decoderLayer(model, 0, embed(model, tf.tensor2d(flat, [4, 10], "int32")), { onLinearInput: grab });
    const w0 = model.weights.get(q0) as tf.Tensor2D;
    const y = tf.matMul(x!, w0, false, true);
    const yh = tf.matMul(x!, tf.mul(w0, masks.get(q0)!), false, true);
    const v = Math.sqrt(tf.sum(tf.square(tf.sub(y, yh))).dataSync()[0] / tf.sum(tf.square(y)).dataSync()[0]);
    x!.dispose(); // kept past decoderLayer's own tidy
    return v;
  });
  const reported = r.report.layers.find((l) => l.name === q0)!.relError!;
  assert.ok(Math.abs(reported - direct) < 1e-4 * direct, `relError ${reported} vs direct ${direct}`);
  tf.dispose([...masks.values()]);
  const w = model.weights.get(q1)!.dataSync();
  const [rows, cols] = r.shapes.get(q1)!;
  assert.deepEqual(r.masks.get(q1), nmMaskFromScores(wandaScores(w, rows, cols, sq), rows, cols, pattern));
  assert.notDeepEqual(sq, dense, "the pruned block 0 must change block 1's inputs, or this test proves nothing");
  disposeModel(model);
});

test("layer selection by module-name globs, and clear errors for bad selections and shapes", async () => {
  const names = linearWeightNames(tinyLlamaConfig()).concat(["model.embed_tokens.weight"]);
  assert.equal(selectLayers(names).length, 14);
  assert.deepEqual(selectLayers(names, ["layers.1.mlp.*"], ["down_proj"]), ["model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight"]);
  assert.deepEqual(selectLayers(names, ["model.layers.?.self_attn.q_proj.weight"]), ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight"]);
  assert.equal(matchesAny("model.layers.0.self_attn.q_proj", ["proj"]), false, "a pattern matches whole dot-separated parts");
  assert.throws(() => selectLayers(names, ["q_prj"]), (e: unknown) => e instanceof PruneInputError && /q_prj/.test(e.message));
  assert.throws(() => selectLayers(names, ["q_proj"], ["*"]), PruneInputError);

  const model = tinyModel(2, { intermediate: 20 });
  const windows = tinyWindows(2, 8, model.config.vocabSize);
  await assert.rejects(computeOneShotMasks(model, windows, { method: "wanda", pattern: { n: 4, m: 8 } }), (e: unknown) => e instanceof PruneInputError && /down_proj/.test(e.message));
  await assert.rejects(computeOneShotMasks(model, [], { method: "sparsegpt", pattern: { n: 2, m: 4 } }), PruneInputError);
  await assert.rejects(computeOneShotMasks(model, windows, { method: "wanda", pattern: { n: 2, m: 4 }, update: true }), PruneInputError);
  await assert.rejects(computeOneShotMasks(model, [Int32Array.from([1, 999])], { method: "wanda", pattern: { n: 2, m: 4 } }), /outside the vocabulary/);
  const onlyL0 = await computeOneShotMasks(model, windows, { method: "sparsegpt", pattern: { n: 2, m: 4 }, targets: ["layers.0.*"] });
  assert.equal(onlyL0.masks.size, 7);
  // magnitude needs no data; without windows there is no reconstruction error to report
  const mag = await computeOneShotMasks(model, [], { method: "magnitude", pattern: { n: 1, m: 4 } });
  assert.ok(mag.report.allVerified && mag.report.layers.every((l) => l.relError === null));
  disposeModel(model);
});

test("StatsCollector used outside any tidy (as the layer bench feeds it) keeps no tensor and sums XᵀX exactly", () => {
  const { StatsCollector } = statsModule;
  const c = new StatsCollector("gram", new Set(["w"]));
  const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
  const tensors = tf.memory().numTensors;
  c.onLinearInput("w", x);
  c.endBatch();
  c.onLinearInput("w", x);
  c.endBatch();
  assert.equal(tf.memory().numTensors, tensors, "a batch's contribution must not outlive it");
  x.dispose();
  // XᵀX = [[35, 44], [44, 56]], twice
  assert.deepEqual([...c.stats.get("w")!.sums], [70, 88, 88, 112]);
  assert.equal(c.stats.get("w")!.tokens, 6);
});
