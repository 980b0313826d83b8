// The streamed perplexity (one decoder layer's weights at a time, windows in groups, the head over vocabulary slices)
// equals the TF.js model's perplexity() on every family the forward supports, and on stories260K read from its
// HF folder, whatever the grouping and the thread count.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../../src/maskllm/backend.js";
import { perplexity } from "../../../src/maskllm/eval/perplexity.js";
import { LayerByLayerPerplexity, perplexityLayerByLayer } from "../../../src/maskllm/eval/perplexity-layer-by-layer.js";
import { disposeModel, type LlamaModel } from "../../../src/maskllm/llama/model.js";
import { InlineExecutor } from "../../../src/maskllm/host/ops.js";
import type { WeightSource } from "../../../src/maskllm/prune/layer-by-layer.js";
import { OpPool } from "../../../src/parallel/op-pool.js";
import { importLlama2c } from "../../../src/checkpoint/llama2c.js";
import { loadModelDir } from "../../../src/checkpoint/load.js";
import { CheckpointReader } from "../../../src/checkpoint/safetensors/checkpoint.js";
import { evalWindows, readDocuments, tokenizeStream } from "../../../src/checkpoint/text-dataset.js";
import { tinyFamilyModel, tinyLlama, tinyWindows, type TinyFamily } from "../../helpers/tiny-llama.js";
import { readFile } from "node:fs/promises";

let pool: OpPool;
before(async () => {
  await initBackend("wasm");
  pool = await OpPool.start(2);
});
after(() => pool.close());

const memorySource = (model: LlamaModel): WeightSource & { reads: string[] } => {
  const reads: string[] = [];
  return { reads, read: async (name) => (reads.push(name), Float32Array.from(model.weights.get(name)!.dataSync() as Float32Array)) };
};

const close = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) <= 1e-4 * want, `${what}: streamed ${got} vs TF.js ${want}`);

const cases: [string, () => LlamaModel, number][] = [
  ["GQA, untied, q/k/v bias", () => tinyLlama({ seed: 3, layers: 3, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 64, config: { attentionBias: true, tieWordEmbeddings: false } }), 24],
  ["MHA, tied", () => tinyLlama({ seed: 4, layers: 2, hidden: 32, heads: 4, kvHeads: 4, intermediate: 64, vocab: 96 }), 16],
  // past one head slice (4096 rows): the log-sum-exp carries across slices
  ["a vocabulary of 4100, untied", () => tinyLlama({ seed: 8, layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, vocab: 4100, config: { tieWordEmbeddings: false } }), 12],
  ...(["llama-3.2", "qwen3", "mistral"] as TinyFamily[]).map((f): [string, () => LlamaModel, number] => [`${f} (${f === "llama-3.2" ? "rope llama3 scaling, tied" : f === "qwen3" ? "q/k norm" : "untied, sliding window"})`, () => tinyFamilyModel(f, 9), 32]),
];

for (const [name, make, seq] of cases)
  test(`streamed perplexity equals perplexity() within 1e-4: ${name}`, async () => {
    const model = make();
    try {
      const windows = tinyWindows(5, seq, model.config.vocabSize, 13);
      const want = perplexity(model, windows, { batchSize: 8 }).perplexity;
      // groups of 2 (the last holds one), a batch of one window, inline; and one group of all, two threads
      const src = memorySource(model);
      const a = await perplexityLayerByLayer(model.config, src, windows, { executor: new InlineExecutor(), groupWindows: 2, windowsPerBatch: 1 });
      close(a.perplexity, want, "groups of 2, inline");
      assert.equal(a.tokens, 5 * (seq - 1));
      assert.equal(src.reads.filter((n) => n === "model.layers.0.self_attn.q_proj.weight").length, 3, "each layer's weights are read once per group");
      const b = await perplexityLayerByLayer(model.config, memorySource(model), windows, { executor: pool, groupWindows: 8, windowsPerBatch: 3 });
      close(b.perplexity, want, "one group, 2 threads");
    } finally {
      disposeModel(model);
    }
  });

test("one evaluator runs several models and window sets; a bad window or an abort is refused", async () => {
  const model = tinyLlama({ seed: 5, layers: 2, vocab: 64 });
  const other = tinyLlama({ seed: 6, layers: 2, vocab: 64 });
  try {
    const ev = new LayerByLayerPerplexity(model.config, 16, { executor: new InlineExecutor(), groupWindows: 3, windowsPerBatch: 2 });
    for (const [m, w] of [[model, tinyWindows(4, 16, 64, 1)], [other, tinyWindows(7, 16, 64, 2)], [model, tinyWindows(1, 16, 64, 3)]] as const)
      close((await ev.run(memorySource(m), w)).perplexity, perplexity(m, w, { batchSize: 8 }).perplexity, "reused evaluator");
    await assert.rejects(ev.run(memorySource(model), tinyWindows(2, 12, 64)), /window 0 has 12 tokens/);
    await assert.rejects(ev.run(memorySource(model), [Int32Array.from({ length: 16 }, () => 64)]), /outside the vocabulary/);
    const ctl = new AbortController();
    ctl.abort(new Error("stop now"));
    await assert.rejects(ev.run(memorySource(model), tinyWindows(2, 16, 64), { signal: ctl.signal }), /stop now/);
  } finally {
    disposeModel(model);
    disposeModel(other);
  }
});

test("stories260K from its HF folder: streamed perplexity equals perplexity() within 1e-4", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-ppl-lbl-"));
  const shared = join(process.cwd(), "../shared");
  try {
    await importLlama2c({ modelPath: join(shared, "models/stories260K/stories260K.bin"), tokenizerPath: join(shared, "models/stories260K/tok512.model"), outDir: dir });
    const { model, tokenizer } = await loadModelDir(dir);
    const text = (await readFile(join(shared, "data/tinystories/heldout-data00-667.txt"), "utf8")).split("\u0000").slice(0, 6).join("\u0000");
    const windows = evalWindows(tokenizeStream(tokenizer, readDocuments(text, "stories"), { bos: tokenizer.bosId }), 64);
    assert.ok(windows.length >= 5, `${windows.length} windows`);
    const want = perplexity(model, windows, { batchSize: 8 }).perplexity;
    disposeModel(model);
    const reader = await CheckpointReader.open(dir);
    try {
      let progress = 0;
      const got = await perplexityLayerByLayer(model.config, { read: async (n) => (await reader.readFloat32(n)).values }, windows, {
        executor: pool, groupWindows: 4, windowsPerBatch: 2, onProgress: (d, t) => (progress = d / t),
      });
      close(got.perplexity, want, "stories260K");
      assert.equal(progress, 1);
    } finally {
      await reader.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
