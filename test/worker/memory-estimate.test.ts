// The worker's memory check (validate.ts): a job that cannot fit is refused at validation with the estimate as its
// reason, before any weight is loaded; the MaskLLM estimate is the host trainer's own (bench:scale prints it
// beside measured peaks), so a 1.1B-parameter MaskLLM job is refused on a 24 GiB machine while one-shot passes. A
// one-shot job over the in-memory estimate runs layer by layer when that estimate fits (its own, and its threads).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../src/maskllm/backend.js";
import type { LlamaConfig } from "../../src/maskllm/llama/config.js";
import { expectedWeightShapes, linearWeightNames } from "../../src/maskllm/llama/model.js";
import { assertJobSpec } from "../../src/contract/job-spec/parse.js";
import { InvalidJobError } from "../../src/contract/errors.js";
import { exportModelDir } from "../../src/checkpoint/export.js";
import { estimateLayerByLayerBytes, estimateMemoryBytes, fitLayerByLayer, layerByLayerPlan, validateCheckpoint } from "../../src/worker/validate.js";
import { parseHfConfig } from "../../src/checkpoint/hf-config.js";
import { readFile } from "node:fs/promises";
import { tinyLlama } from "../helpers/tiny-llama.js";
import { testConfig } from "../helpers/config.js";

before(async () => {
  await initBackend("wasm");
});

const GiB = 1024 ** 3;
const spec = (method: string) => assertJobSpec({ source: { checkpoint_id: "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90" }, method, pattern: "2:4" });

const tinyLlama11B: LlamaConfig = {
  architecture: "LlamaForCausalLM", vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numHiddenLayers: 22, numAttentionHeads: 32, numKeyValueHeads: 4,
  headDim: 64, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 2048, tieWordEmbeddings: false, attentionBias: false,
};

function counts(c: LlamaConfig): { params: number; masked: number } {
  const shapes = expectedWeightShapes(c);
  const size = (n: string) => shapes.get(n)!.reduce((a, b) => a * b, 1);
  return { params: [...shapes.keys()].reduce((a, n) => a + size(n), 0), masked: linearWeightNames(c).reduce((a, n) => a + size(n), 0) };
}

test("a MaskLLM job on the TinyLlama-1.1B shape needs more than 24 GiB; one-shot SparseGPT on it does not", () => {
  const { params, masked } = counts(tinyLlama11B);
  const maskllm = estimateMemoryBytes(tinyLlama11B, spec("maskllm"), params, masked, 2);
  const sparsegpt = estimateMemoryBytes(tinyLlama11B, spec("sparsegpt"), params, masked);
  assert.ok(maskllm > 24 * GiB && maskllm > 28 * masked, `MaskLLM estimate ${(maskllm / GiB).toFixed(1)} GiB`);
  assert.ok(sparsegpt < 24 * GiB, `SparseGPT estimate ${(sparsegpt / GiB).toFixed(1)} GiB`);
});

test("validation refuses a job that does not fit with the estimate as its reason, and passes one that does", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-estimate-"));
  const model = tinyLlama({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64 });
  try {
    await exportModelDir(model, join(dir, "ckpt"));
    const fits = await validateCheckpoint(join(dir, "ckpt"), spec("maskllm"), testConfig({ WORKER_MEMORY_LIMIT_BYTES: String(8 * GiB) }));
    assert.ok(fits.estimateBytes > 0 && fits.maskedParams > 0);
    await assert.rejects(validateCheckpoint(join(dir, "ckpt"), spec("maskllm"), testConfig({ WORKER_MEMORY_LIMIT_BYTES: String(Math.floor(fits.estimateBytes / 2)) })), (e: unknown) => {
      assert.ok(e instanceof InvalidJobError && e.code === "resource_exhausted", String(e));
      assert.match((e as Error).message, /needs about [\d.]+ (GiB|MiB) of memory .* more than this worker's/);
      assert.match((e as Error).message, /MaskLLM training holds the whole model \(its one-shot prior could run layer by layer, training cannot\)/);
      return true;
    });
  } finally {
    for (const t of model.weights.values()) t.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

const oneShot = (method: string, extra: Record<string, unknown> = {}) => assertJobSpec({ source: { checkpoint_id: "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90" }, method, pattern: "2:4", ...extra });

test("layer by layer, the TinyLlama-1.1B shape's one-shot jobs fit a default 8 GiB worker that refuses them in memory", () => {
  const { params, masked } = counts(tinyLlama11B);
  for (const method of ["magnitude", "wanda", "sparsegpt"]) {
    const spec = oneShot(method);
    const inMemory = estimateMemoryBytes(tinyLlama11B, spec, params, masked);
    const one = estimateLayerByLayerBytes(tinyLlama11B, spec, layerByLayerPlan(spec, 1), masked, 2);
    const two = estimateLayerByLayerBytes(tinyLlama11B, spec, layerByLayerPlan(spec, 2), masked, 2);
    assert.ok(inMemory > 8 * GiB, `${method}: in memory ${(inMemory / GiB).toFixed(2)} GiB`);
    assert.ok(two.total < 8 * GiB && two.total > one.total, `${method}: layer by layer ${(one.total / GiB).toFixed(2)} / ${(two.total / GiB).toFixed(2)} GiB on 1 / 2 threads`);
    // one layer's float32 weights, the calibration activations twice (128 × 256 tokens of width 2048)
    assert.equal(one.parts.layerWeights, 4 * (2048 * 2048 * 2 + 2 * 2048 * 256 + 3 * 2048 * 5632 + 3 * 2048));
    assert.equal(one.parts.activations, method === "magnitude" ? 0 : 2 * 4 * 128 * 256 * 2048);
  }
  const est = (m: string) => estimateLayerByLayerBytes(tinyLlama11B, oneShot(m), layerByLayerPlan(oneShot(m), 2), masked, 2).parts.statistics;
  // SparseGPT: the float64 Gram sums of every input and the widest Hessian (5632²) in float64
  assert.ok(est("sparsegpt") > 8 * 5632 * 5632 * 2 && est("wanda") < 1e6 && est("magnitude") === 0);
});

test("Llama-3.2-1B (jobs/llama-3.2-1b-hub.json): over 18 GiB in memory, under 8 GiB layer by layer; fewer threads when each thread's kernels would not fit", async () => {
  const c = parseHfConfig({
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64,
    vocab_size: 128256, rms_norm_eps: 1e-5, rope_theta: 500000, max_position_embeddings: 131072, tie_word_embeddings: true,
    rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  });
  const spec = assertJobSpec(JSON.parse(await readFile("jobs/llama-3.2-1b-hub.json", "utf8")));
  const { params, masked } = counts(c);
  assert.ok(estimateMemoryBytes(c, spec, params, masked) > 18 * GiB);
  const fit = fitLayerByLayer(c, spec, { trainThreads: 16, workerConcurrency: 1, workerMemoryLimitBytes: 8 * GiB }, masked, 2);
  assert.ok(fit.bytes <= 8 * GiB && fit.plan.threads === 16, `${(fit.bytes / GiB).toFixed(2)} GiB on ${fit.plan.threads} threads`);
  const tight = fitLayerByLayer(c, spec, { trainThreads: 16, workerConcurrency: 1, workerMemoryLimitBytes: 6.5 * GiB }, masked, 2);
  assert.ok(tight.plan.threads < 16 && tight.plan.threads >= 1 && tight.bytes <= 6.5 * GiB, `${tight.plan.threads} threads, ${(tight.bytes / GiB).toFixed(2)} GiB`);
  // seq 2048: one window per batch; the evaluation's group holds as many tokens as the calibration set
  assert.deepEqual({ ...fit.plan, threads: 0 }, { threads: 0, windowsPerBatch: 1, evalWindowsPerBatch: 1, evalGroupWindows: 64 });
});

test("validation picks the path: in memory when it fits, layer by layer when only that fits, else refused with both estimates", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-estimate-"));
  // a wide MLP: the in-memory estimate counts calibration activations at the widest width, layer by layer at hidden's
  const model = tinyLlama({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 256, vocab: 64 });
  try {
    await exportModelDir(model, join(dir, "ckpt"));
    const spec = oneShot("wanda", { calibration: { dataset: "builtin:tinystories", samples: 2048, seq_len: 64 } });
    const cfg = (limit: number) => testConfig({ WORKER_MEMORY_LIMIT_BYTES: String(Math.floor(limit)), TRAIN_THREADS: "2" });
    const roomy = await validateCheckpoint(join(dir, "ckpt"), spec, cfg(8 * GiB));
    assert.equal(roomy.execution, "in-memory");
    assert.equal(roomy.layerByLayer, undefined);
    const { inMemoryBytes } = roomy.estimates;
    const lbl = await validateCheckpoint(join(dir, "ckpt"), spec, cfg(inMemoryBytes - 1));
    assert.equal(lbl.execution, "layer-by-layer");
    assert.ok(lbl.estimates.layerByLayerBytes! < inMemoryBytes && lbl.estimateBytes === lbl.estimates.layerByLayerBytes);
    assert.equal(lbl.layerByLayer!.threads, 2);
    // under the two-thread estimate, one thread (its kernels' memory less); under the one-thread estimate, refused
    const oneThread = estimateLayerByLayerBytes(lbl.llama, spec, layerByLayerPlan(spec, 1), lbl.maskedParams, 4).total;
    assert.ok(oneThread < lbl.estimates.layerByLayerBytes!);
    assert.equal((await validateCheckpoint(join(dir, "ckpt"), spec, cfg(oneThread))).layerByLayer!.threads, 1);
    await assert.rejects(validateCheckpoint(join(dir, "ckpt"), spec, cfg(oneThread - 1)), (e: unknown) => {
      assert.ok(e instanceof InvalidJobError && e.code === "resource_exhausted", String(e));
      assert.match(e.message, /about [\d.]+ MiB of memory in memory and [\d.]+ MiB layer by layer \(\d+ parameters\), both more than/);
      return true;
    });
    // the layer-by-layer pruner prunes only linears inside decoder layers
    const head = oneShot("wanda", { targets: ["embed_tokens", "q_proj"], ignore: [], calibration: { dataset: "builtin:tinystories", samples: 2048, seq_len: 64 } });
    await assert.rejects(validateCheckpoint(join(dir, "ckpt"), head, cfg(inMemoryBytes - 1)), /cannot run layer by layer: that prunes only linears inside decoder layers/);
  } finally {
    for (const t of model.weights.values()) t.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
