// The model families people prune today (Llama 3.2 with rope_type llama3, Qwen3 with q/k norms and head_dim ≠
// hidden/heads, Mistral with a sliding window): our forward's logits against a float64 reference written from
// transformers' modeling_* formulas (test/helpers/hf-reference.ts, which reads the Hub-shaped config.json itself),
// both attention paths, the sliding-window refusal, and generation stopping on any listed EOS id.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { forward, ModelError, type LlamaModel } from "../../../src/maskllm/llama/model.js";
import { compositeSelfAttention, selfAttention } from "../../../src/maskllm/llama/attention.js";
import { greedyGenerate } from "../../../src/maskllm/llama/generate.js";
import { hfReferenceLogits } from "../../helpers/hf-reference.js";
import { TINY_HUB_CONFIGS, tinyFamilyModel, type TinyFamily } from "../../helpers/tiny-llama.js";

before(async () => {
  await initBackend("wasm");
});

const FAMILIES = Object.keys(TINY_HUB_CONFIGS) as TinyFamily[];
const weightOf = (m: LlamaModel) => (n: string) => {
  const t = m.weights.get(n);
  if (!t) throw new Error(`no ${n}`);
  return { values: t.dataSync(), shape: t.shape };
};

for (const family of FAMILIES)
  test(`${family}: forward logits equal transformers' formulas in float64 (relative 1e-4)`, () => {
    const m = tinyFamilyModel(family, 3);
    const ids = [1, 5, 9, 3, 7, 2, 8, 40, 6, 11, 0, 12, 33, 20, 63, 4];
    const logits = tf.tidy(() => forward(m, tf.tensor2d([ids], undefined, "int32")).arraySync()[0]);
    const ref = hfReferenceLogits(TINY_HUB_CONFIGS[family] as unknown as Record<string, unknown>, weightOf(m), ids);
    let worst = 0;
    let scale = 0;
    ref.forEach((row, t) => row.forEach((v, i) => ((worst = Math.max(worst, Math.abs(v - logits[t][i]))), (scale = Math.max(scale, Math.abs(v))))));
    assert.ok(scale > 0.1 && worst <= 1e-4 * scale, `max |Δlogit| ${worst} at scale ${scale}`);
    tf.dispose([...m.weights.values()]);
  });

test("the composite attention path (other backends) equals the fused one with q/k norms and scaled RoPE", () => {
  for (const family of FAMILIES) {
    const m = tinyFamilyModel(family, 4);
    const [b, s] = [2, 10];
    const x = tf.randomNormal([b * s, m.config.hiddenSize], 0, 1, "float32", 9) as tf.Tensor2D;
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(selfAttention(m, 1, x, b, s), compositeSelfAttention(m, 1, x, b, s)))).dataSync()[0]);
    assert.ok(d < 1e-5, `${family}: ${d}`);
    tf.dispose([x, ...m.weights.values()]);
  }
});

test("a sequence longer than Mistral's sliding_window is refused by name, not run as full attention", () => {
  const m = tinyFamilyModel("mistral", 5);
  const ids = tf.tensor2d([Array.from({ length: 48 }, (_, i) => i % 60)], undefined, "int32");
  assert.throws(() => forward(m, ids), (e: unknown) => e instanceof ModelError && /48 tokens is longer than the model's sliding_window \(40\)/.test((e as Error).message));
  tf.dispose([ids, ...m.weights.values()]);
});

test("generation stops on any of config.json's EOS ids", () => {
  const m = tinyFamilyModel("llama-3.2", 6);
  const free = greedyGenerate(m, [1, 7, 9], 3);
  assert.equal(free.length, 3);
  assert.deepEqual(greedyGenerate(m, [1, 7, 9], 3, { eosId: [60, free[0]] }), []);
  assert.deepEqual(greedyGenerate(m, [1, 7, 9], 3, { eosId: free[1] === free[0] ? [] : [free[1]] }).slice(0, 1), [free[0]]);
  tf.dispose([...m.weights.values()]);
});
