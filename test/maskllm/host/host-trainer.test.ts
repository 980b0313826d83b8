// The host trainer (src/maskllm/host) against the TF.js path it replaces on wasm/cpu: the same noise and kernels
// for sampling, and a hand-written forward/backward whose logits after a few steps must agree with TF.js autograd's
// to float32 rounding, for the model variants the path takes (GQA, q/k/v bias, untied head, soft and hard masks,
// 2:4 and 4:8, whose M̃ is formed while packing, and 1:2, whose M̃ goes through the softMask op; Qwen3's q/k norms
// and scaled RoPE tables).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { trainMasks } from "../../../src/maskllm/train/loop.js";
import { HostEngine, HostEngineError, hostEngineUnsupported } from "../../../src/maskllm/host/engine.js";
import { InlineExecutor } from "../../../src/maskllm/host/ops.js";
import { tinyLlama, type TinyLlamaOptions } from "../../helpers/tiny-llama.js";

before(async () => {
  await initBackend("wasm");
});

function windowsFor(vocab: number, n: number, seq: number): Int32Array[] {
  return Array.from({ length: n }, (_, w) => Int32Array.from({ length: seq }, (_, i) => (w * 7 + i * 13 + ((w * i) % 5)) % vocab));
}

const variants: [string, TinyLlamaOptions, { n: number; m: number }][] = [
  ["GQA, tied", { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64 }, { n: 2, m: 4 }],
  ["q/k/v bias, untied", { layers: 2, hidden: 32, heads: 4, kvHeads: 4, intermediate: 48, vocab: 64, config: { attentionBias: true, tieWordEmbeddings: false } }, { n: 2, m: 4 }],
  ["4:8", { layers: 1, hidden: 32, heads: 2, kvHeads: 1, intermediate: 64, vocab: 64 }, { n: 4, m: 8 }],
  ["1:2 (softMask op)", { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64 }, { n: 1, m: 2 }],
  // q/k masks learn through the per-head RMSNorm's backward
  ["Qwen3 q/k norms, head_dim 12 ≠ hidden/heads, untied", { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64, config: { architecture: "Qwen3ForCausalLM", qkNorm: true, headDim: 12, tieWordEmbeddings: false } }, { n: 2, m: 4 }],
  ["rope_scaling llama3", { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64, config: { ropeScaling: { ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 } } }, { n: 2, m: 4 }],
  ["rope_scaling yarn (attention factor in cos/sin)", { layers: 1, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64, config: { ropeScaling: { ropeType: "yarn", factor: 4, originalMaxPositionEmbeddings: 8 } } }, { n: 2, m: 4 }],
];

for (const [label, o, pattern] of variants)
  test(`the host trainer's logits equal the TF.js path's after 4 steps: ${label}, soft and hard`, async () => {
    const model = tinyLlama({ ...o, seed: 5 });
    if (model.config.attentionBias)
      for (let l = 0; l < model.config.numHiddenLayers; l++)
        for (const s of ["q", "k", "v"]) {
          const w = model.weights.get(`model.layers.${l}.self_attn.${s}_proj.weight`)!;
          model.weights.set(`model.layers.${l}.self_attn.${s}_proj.bias`, tf.randomUniform([w.shape[0]], -0.2, 0.2, "float32", 7 + l));
        }
    const windows = windowsFor(model.config.vocabSize, 6, 12);
    try {
      for (const hard of [false, true]) {
        const options = { pattern, steps: 4, batchSize: 4, microBatches: 2, progressEvery: 1, hard };
        const lossesTf: number[] = [];
        const lossesHost: number[] = [];
        const ref = await trainMasks({ model, windows, options, engine: "tf", onProgress: (p) => lossesTf.push(p.lmLoss) });
        const before = tf.memory().numTensors;
        const host = await trainMasks({ model, windows, options, onProgress: (p) => lossesHost.push(p.lmLoss) });
        assert.equal(tf.memory().numTensors, before, "the host path makes no tensors");
        let worst = 0;
        let scale = 0;
        for (const [name, a] of ref.logits) {
          const b = host.logits.get(name)!;
          for (let i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
          }
        }
        assert.ok(scale > 0.01 && worst < 1e-5 * Math.max(1, scale), `hard=${hard}: logits differ by ${worst} (scale ${scale})`);
        lossesTf.forEach((l, i) => assert.ok(Math.abs(l - lossesHost[i]) < 1e-5 * Math.abs(l), `step ${i + 1}: lm ${l} vs ${lossesHost[i]}`));
      }
    } finally {
      for (const t of model.weights.values()) t.dispose();
    }
  });

test("the host trainer refuses what it cannot run, and the loop then keeps the TF.js path", async () => {
  const model = tinyLlama({ layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 16, vocab: 30 });
  try {
    assert.match(hostEngineUnsupported(model.config) ?? "", /vocabulary 30 is not a multiple of 4/);
    const r = await trainMasks({ model, windows: windowsFor(30, 4, 8), options: { steps: 2, batchSize: 2, microBatches: 1 } });
    assert.equal(r.timing.steps, 2);
    assert.ok(r.logits.size > 0);
  } finally {
    for (const t of model.weights.values()) t.dispose();
  }
});

test("the engine itself refuses such a model with a HostEngineError naming why", () => {
  const model = tinyLlama({ layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 16, vocab: 30 });
  try {
    const weights = new Map([...model.weights].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    const spec = { config: model.config, weights, targets: [], m: 4, s: new Float32Array(24), hard: false, seqLen: 8, maxWindows: 1 };
    assert.throws(() => new HostEngine(spec, new InlineExecutor()), (e: unknown) => e instanceof HostEngineError && /vocabulary 30/.test((e as Error).message));
  } finally {
    for (const t of model.weights.values()) t.dispose();
  }
});
