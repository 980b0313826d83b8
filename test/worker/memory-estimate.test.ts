// The worker's memory check (validate.ts): a job that cannot fit is refused at validation with the estimate as its
// reason, before any weight is loaded; the MaskLLM estimate is the host trainer's own (bench:scale prints it
// beside measured peaks), so a 1.1B-parameter MaskLLM job is refused on a 24 GiB machine while one-shot passes.
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
import { estimateMemoryBytes, validateCheckpoint } from "../../src/worker/validate.js";
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
      assert.match((e as Error).message, /needs about [\d.]+ GiB of memory .* more than this worker's/);
      return true;
    });
  } finally {
    for (const t of model.weights.values()) t.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
