import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../../src/maskllm/backend.js";
import { disposeModel, type LlamaModel } from "../../../src/maskllm/llama/model.js";
import { computeOneShotMasks, type OneShotMethod } from "../../../src/maskllm/prune/oneshot.js";
import { pruneLayerByLayer, type LayerByLayerOptions, type PrunedLayer, type WeightSource } from "../../../src/maskllm/prune/layer-by-layer.js";
import { PruneInputError } from "../../../src/maskllm/prune/errors.js";
import { choleskyLowerBlockedF32, inverseCholeskyDiagonalF32 } from "../../../src/maskllm/linalg/cholesky-blocked.js";
import { inverseCholeskyDiagonal } from "../../../src/maskllm/linalg/inverse-cholesky.js";
import { InlineExecutor, type Executor } from "../../../src/maskllm/host/ops.js";
import { OpPool } from "../../../src/parallel/op-pool.js";
import { tinyFamilyModel, tinyLlama } from "../../helpers/tiny-llama.js";

// widths past one Gram panel (256) and one Cholesky block (128), a batch split 4 + 2, GQA and a q/k/v bias
let model: LlamaModel;
const makeModel = () => tinyLlama({ seed: 5, layers: 3, hidden: 64, heads: 4, kvHeads: 2, intermediate: 320, vocab: 96, config: { attentionBias: true, tieWordEmbeddings: false } });
const pattern = { n: 2, m: 4 };

function windows(count: number, seq: number, vocab: number, seed = 11): Int32Array[] {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  return Array.from({ length: count }, () => Int32Array.from({ length: seq }, (_, i) => (i === 0 ? 1 : Math.floor(next() * vocab))));
}
const calib = windows(6, 16, 96);

const source: WeightSource = { read: async (name) => Float32Array.from(model.weights.get(name)!.dataSync() as Float32Array) };

async function runAll(opts: LayerByLayerOptions, win = calib): Promise<{ layers: PrunedLayer[]; report: Awaited<ReturnType<typeof computeOneShotMasks>>["report"] }> {
  const layers: PrunedLayer[] = [];
  const it = pruneLayerByLayer(model.config, source, win, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return { layers, report: r.value };
    // views are valid until the next layer is asked for: keep copies
    layers.push({ layer: r.value.layer, weights: new Map([...r.value.weights].map(([k, v]) => [k, v.slice()])), masks: r.value.masks });
  }
}

let pool: OpPool;
before(async () => {
  await initBackend("wasm");
  model = makeModel();
  pool = await OpPool.start(2);
});
after(async () => {
  await pool.close();
  disposeModel(model);
});

const agreement = (a: Uint8Array, b: Uint8Array) => {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

for (const [method, update, least] of [["magnitude", false, 1], ["wanda", false, 0.999], ["sparsegpt", false, 0.995], ["sparsegpt", true, 0.99]] as [OneShotMethod, boolean, number][]) {
  test(`layer by layer, ${method}${update ? " with update" : ""} picks the masks the in-memory pruner picks (≥ ${least * 100}% of entries), exactly N:M`, async () => {
    const ref = await computeOneShotMasks(model, calib, { method, pattern, update, batchSize: 4 });
    const got = await runAll({ method, pattern, update, executor: new InlineExecutor(), windowsPerBatch: 4 });
    assert.equal(got.layers.length, model.config.numHiddenLayers);
    assert.equal(got.report.allVerified, true);
    assert.equal(got.report.layers.length, ref.masks.size);
    assert.ok(Math.abs(got.report.sparsity - ref.report.sparsity) < 1e-3, `sparsity ${got.report.sparsity} vs ${ref.report.sparsity}`);
    for (const l of got.layers)
      for (const [name, mask] of l.masks) {
        const agree = agreement(mask, ref.masks.get(name)!);
        assert.ok(agree >= least, `${name}: ${(agree * 100).toFixed(2)}% of the mask agrees`);
        const w = l.weights.get(name)!;
        for (let i = 0; i < w.length; i++) if (!mask[i]) assert.equal(w[i], 0);
        if (update) {
          // the compensated weights, compared where both runs kept the weight
          const rw = ref.weights!.get(name)!;
          let num = 0, den = 0;
          for (let i = 0; i < w.length; i++) if (mask[i] && ref.masks.get(name)![i]) { num += (w[i] - rw[i]) ** 2; den += rw[i] ** 2; }
          assert.ok(Math.sqrt(num / den) < 0.02, `${name}: updated weights differ by ${Math.sqrt(num / den)}`);
        }
      }
  });
}

test("the families' attention (Qwen3's q/k norms, Llama 3.2's llama3 RoPE) runs in the layer forward: Wanda's masks match the in-memory pruner's", async () => {
  for (const family of ["qwen3", "llama-3.2"] as const) {
    const m = tinyFamilyModel(family, 8);
    try {
      const win = windows(4, 16, m.config.vocabSize, 3);
      const ref = await computeOneShotMasks(m, win, { method: "wanda", pattern, update: false, batchSize: 4 });
      const src: WeightSource = { read: async (name) => Float32Array.from(m.weights.get(name)!.dataSync() as Float32Array) };
      const it = pruneLayerByLayer(m.config, src, win, { method: "wanda", pattern, executor: new InlineExecutor(), windowsPerBatch: 2 });
      let layers = 0;
      for (let r = await it.next(); !r.done; r = await it.next()) {
        layers++;
        for (const [name, mask] of r.value.masks) assert.ok(agreement(mask, ref.masks.get(name)!) >= 0.999, `${family} ${name}`);
      }
      assert.equal(layers, m.config.numHiddenLayers);
    } finally {
      disposeModel(m);
    }
  }
});

test("the result does not depend on the thread count or the windows per pass", async () => {
  for (const method of ["wanda", "sparsegpt"] as const) {
    const one = await runAll({ method, pattern, executor: new InlineExecutor(), windowsPerBatch: 4 });
    const two = await runAll({ method, pattern, executor: pool, windowsPerBatch: 4 });
    for (let l = 0; l < one.layers.length; l++)
      for (const [name, mask] of one.layers[l].masks) {
        assert.deepEqual(two.layers[l].masks.get(name), mask, `${method} ${name} on 2 threads`);
        assert.deepEqual(two.layers[l].weights.get(name), one.layers[l].weights.get(name));
      }
    const wide = await runAll({ method, pattern, executor: pool, windowsPerBatch: 6 });
    for (let l = 0; l < one.layers.length; l++)
      for (const [name, mask] of one.layers[l].masks) assert.ok(agreement(wide.layers[l].masks.get(name)!, mask) > 0.999, `${method} ${name} with one pass of 6 windows`);
  }
});

test("bad requests are refused before any layer is read", async () => {
  const refuse = async (opts: Partial<LayerByLayerOptions>, win: Int32Array[], re: RegExp) => {
    let reads = 0;
    const counting: WeightSource = { read: async (n) => (reads++, source.read(n)) };
    await assert.rejects(pruneLayerByLayer(model.config, counting, win, { method: "wanda", pattern, executor: new InlineExecutor(), ...opts }).next(), (e: unknown) => e instanceof PruneInputError && re.test(e.message));
    assert.equal(reads, 0);
  };
  await refuse({ targets: ["lm_head", "q_proj"], ignore: [] }, calib, /decoder layers only.*lm_head/);
  await refuse({}, [], /wanda needs calibration windows/);
  await refuse({ method: "wanda", update: true }, calib, /only for sparsegpt/);
  await refuse({}, [Int32Array.of(1, 2, 999)], /outside the vocabulary/);
  await refuse({ pattern: { n: 1, m: 3 }, targets: ["down_proj"] }, calib, /divisible by 3: mlp.down_proj \[64, 320\]/);
});

test("a source tensor of the wrong size fails the run with the tensor's name", async () => {
  const short: WeightSource = { read: async (n) => (n.endsWith("layers.1.mlp.up_proj.weight") ? new Float32Array(3) : source.read(n)) };
  const it = pruneLayerByLayer(model.config, short, calib, { method: "magnitude", pattern, executor: new InlineExecutor() });
  assert.equal((await it.next()).done, false);
  await assert.rejects(it.next(), /layers\.1\.mlp\.up_proj\.weight has 3 values/);
});

test("the blocked float32 Cholesky matches the Float64 one on a Hessian-like matrix", () => {
  for (const [n, exec] of [[300, new InlineExecutor()], [700, pool]] as [number, Executor][]) {
    // H = XᵀX/t + damp, X with a few dominant features as LLM activations have
    let s = 3;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5;
    const t = n + 64;
    const x = Float64Array.from({ length: t * n }, (_, i) => next() * (i % n < 5 ? 20 : 1));
    const h = new Float64Array(n * n);
    for (let k = 0; k < t; k++) for (let i = 0; i < n; i++) { const xi = x[k * n + i]; if (xi) for (let j = 0; j < n; j++) h[i * n + j] += (xi * x[k * n + j]) / t; }
    let mean = 0;
    for (let i = 0; i < n; i++) mean += h[i * n + i] / n;
    for (let i = 0; i < n; i++) h[i * n + i] += 0.01 * mean;
    const ref = inverseCholeskyDiagonal(Float64Array.from(h), n);
    const got = inverseCholeskyDiagonalF32(Float32Array.from(h), n, exec);
    let worst = 0;
    for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(got[j] - ref[j]) / ref[j]);
    assert.ok(worst < 1e-3, `n=${n}: diag(U) off by ${worst}`);
    // and L·Lᵀ reproduces H
    const l = Float32Array.from(h);
    choleskyLowerBlockedF32(l, n, exec);
    let err = 0, norm = 0;
    for (let i = 0; i < n; i += 37) for (let j = 0; j <= i; j++) {
      let v = 0;
      for (let k = 0; k <= j; k++) v += l[i * n + k] * l[j * n + k];
      err = Math.max(err, Math.abs(v - h[i * n + j]));
      norm = Math.max(norm, Math.abs(h[i * n + j]));
    }
    assert.ok(err / norm < 1e-4, `n=${n}: ‖LLᵀ − H‖ ${err / norm}`);
  }
});
