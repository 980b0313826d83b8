// End to end per model family people prune (Llama 3.2, Qwen3, Mistral), as the Hub ships them: a random model
// written as a bf16 sharded HF folder with the family's config.json → loadModelDir → perplexity → `maskforge
// prune` with SparseGPT and with MaskLLM (2 steps) → the exported folder reloads, stays bf16, its targeted
// weights are exactly 2:4, and its forward equals the in-memory sparse model's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../src/maskllm/backend.js";
import { loadModelDir } from "../../src/checkpoint/load.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { decodeMaskNpz } from "../../src/checkpoint/mask-npz.js";
import { evalWindows, readDocuments, tokenizeStream } from "../../src/checkpoint/text-dataset.js";
import { perplexity } from "../../src/maskllm/eval/perplexity.js";
import { forward, type LlamaModel } from "../../src/maskllm/llama/model.js";
import { isExactNM } from "../../src/maskllm/mask/patterns.js";
import { mulberry32 } from "../../src/maskllm/train/rng.js";
import { runPrune } from "../../src/cli/commands/prune.js";
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../src/maskllm/prune/select-layers.js";
import { TINY_HUB_CONFIGS, tinyFamilyModel, writeTinyHubFolder, type TinyFamily } from "../helpers/tiny-llama.js";

let dir: string;
before(async () => {
  await initBackend("wasm");
  dir = await mkdtemp(join(tmpdir(), "families-"));
  // seeded letter "words": text the tiny tokenizer covers
  const next = mulberry32(3);
  const words = Array.from({ length: 700 }, () => Array.from({ length: 1 + Math.floor(next() * 5) }, () => "etaoinshrdlu"[Math.floor(next() * 12)]).join(""));
  await writeFile(join(dir, "calib.txt"), words.join(" "));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logitsOf = (m: LlamaModel, ids: number[][]) => tf.tidy(() => forward(m, tf.tensor2d(ids, undefined, "int32")).dataSync() as Float32Array);

for (const family of Object.keys(TINY_HUB_CONFIGS) as TinyFamily[])
  test(`${family}: a bf16 sharded Hub folder loads, evaluates, prunes (SparseGPT, MaskLLM) and exports a bf16 2:4 folder that reloads`, async () => {
    const src = join(dir, family);
    const made = tinyFamilyModel(family, 11);
    const files = await writeTinyHubFolder(family, made, src);
    for (const t of made.weights.values()) t.dispose();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 2 && files.includes("model.safetensors.index.json"), files.join(", "));

    const { model, tokenizer } = await loadModelDir(src);
    try {
      assert.equal(model.config.architecture, (TINY_HUB_CONFIGS[family].architectures as readonly string[])[0]);
      const text = await readFile(join(dir, "calib.txt"), "utf8");
      const windows = evalWindows(tokenizeStream(tokenizer, readDocuments(text, "wikitext"), { bos: tokenizer.bosId }), 32).slice(0, 4);
      const dense = perplexity(model, windows, { batchSize: 2 });
      assert.ok(Number.isFinite(dense.perplexity) && dense.perplexity > 1, `dense perplexity ${dense.perplexity}`);

      const opts = {
        update: true, pattern: "2:4", calib: join(dir, "calib.txt"), calibFormat: "wikitext" as const, calibSamples: 4, seqLen: 32, seed: 0, json: true,
        targets: [...DEFAULT_TARGETS], ignore: [...DEFAULT_IGNORE], batchSize: 2, backend: "wasm" as const, prior: "sparsegpt", steps: 2, microBatches: 1,
      };
      const probe = windows.slice(0, 2).map((w) => [...w]);
      for (const method of ["sparsegpt", "maskllm"]) {
        const out = join(dir, `${family}-${method}`);
        const report = await runPrune(src, { ...opts, method, out });
        assert.equal(report.allVerified, true);
        assert.deepEqual(await readFile(join(out, "config.json")), await readFile(join(src, "config.json")), "config.json kept as the Hub wrote it");
        const names = report.layers.map((l) => l.name);
        const masks = decodeMaskNpz(await readFile(join(out, "mask_compressed.npz")), new Map(report.layers.map((l) => [l.name, l.shape[0] * l.shape[1]])));
        const reader = await CheckpointReader.open(out);
        try {
          for (const name of reader.names) assert.equal((await reader.entry(name)).dtype, "BF16", `${name} stays bf16`);
          for (const name of names) {
            const w = await reader.readFloat32(name);
            assert.ok(isExactNM(w.values, w.shape[1], { n: 2, m: 4 }), `${name} is exactly 2:4`);
          }
        } finally {
          await reader.close();
        }
        const back = await loadModelDir(out);
        try {
          assert.deepEqual(back.model.config, model.config);
          const sparse = perplexity(back.model, windows, { batchSize: 2 });
          assert.ok(Number.isFinite(sparse.perplexity), `${method}: perplexity ${sparse.perplexity}`);
          // the in-memory sparse model: the source's bf16 weights with the mask applied (MaskLLM changes no kept
          // weight); SparseGPT's update changes kept weights, so there the exported weights themselves are it
          const inMemory: LlamaModel = { config: model.config, weights: new Map(model.weights) };
          const made: tf.Tensor[] = [];
          for (const name of names) {
            const mask = masks.get(name)!;
            const w = model.weights.get(name)!;
            const kept = method === "maskllm" ? tf.mul(w, tf.tensor(Float32Array.from(mask), w.shape)) : back.model.weights.get(name)!.clone();
            assert.ok(method === "maskllm" || (back.model.weights.get(name)!.dataSync() as Float32Array).every((v, i) => mask[i] === 1 || v === 0), `${name}: zeros where the mask is 0`);
            made.push(kept);
            inMemory.weights.set(name, kept);
          }
          assert.deepEqual(logitsOf(back.model, probe), logitsOf(inMemory, probe), `${method}: the reloaded folder's forward equals the in-memory sparse model's`);
          tf.dispose(made);
        } finally {
          for (const t of back.model.weights.values()) t.dispose();
        }
      }
    } finally {
      for (const t of model.weights.values()) t.dispose();
    }
  });
