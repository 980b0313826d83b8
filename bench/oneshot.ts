// One-shot 2:4 pruning of stories260K: perplexity on the held-out TinyStories split for dense, magnitude, Wanda,
// SparseGPT mask-only and SparseGPT with update, and the time each took. Prints a table, then one JSON line.
// Run: npm run bench:oneshot [-- --backend wasm --samples 128 --seq-len 256 --pattern 2:4 --seed 0]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { loadConfig } from "../src/config.js";
import { initBackend, type BackendChoice } from "../src/maskllm/backend.js";
import { importLlama2c } from "../src/checkpoint/llama2c.js";
import { loadModelDir } from "../src/checkpoint/load.js";
import { evalWindows, readDocuments, tokenizeStream } from "../src/checkpoint/text-dataset.js";
import { perplexity } from "../src/maskllm/eval/perplexity.js";
import { computeOneShotMasks, maskedWeight, type OneShotMethod, type OneShotResult } from "../src/maskllm/prune/oneshot.js";
import { parsePattern } from "../src/maskllm/mask/patterns.js";
import type { LlamaModel } from "../src/maskllm/llama/model.js";
import { calibrationWindows } from "../src/cli/commands/prune.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    samples: { type: "string", default: "128" },
    "seq-len": { type: "string", default: "256" },
    pattern: { type: "string", default: "2:4" },
    seed: { type: "string", default: "0" },
    "batch-size": { type: "string", default: "16" },
  },
});
const shared = loadConfig().sharedDir;
const samples = Number(args.samples), seqLen = Number(args["seq-len"]), seed = Number(args.seed), batchSize = Number(args["batch-size"]);
const pattern = parsePattern(args.pattern!);

const backend = await initBackend(args.backend as BackendChoice);
const dir = await mkdtemp(join(tmpdir(), "bench-oneshot-"));
try {
  const modelDir = join(dir, "stories260K");
  await importLlama2c({ modelPath: join(shared, "models/stories260K/stories260K.bin"), tokenizerPath: join(shared, "models/stories260K/tok512.model"), outDir: modelDir });
  const { model, tokenizer } = await loadModelDir(modelDir);
  const calibFile = join(shared, "data/tinystories/train-sample-2MiB.txt");
  const t0 = performance.now();
  const calib = await calibrationWindows(calibFile, "stories", tokenizer, samples, seqLen, seed);
  const heldout = readDocuments(await readFile(join(shared, "data/tinystories/heldout-data00-667.txt"), "utf8"), "stories");
  const evalWin = evalWindows(tokenizeStream(tokenizer, heldout, { bos: tokenizer.bosId }), 256);
  const tokenizeSeconds = (performance.now() - t0) / 1000;

  const evaluate = (m: LlamaModel) => perplexity(m, evalWin, { batchSize: 16 });
  /** the model with the pruned weights swapped in (the caller disposes the returned tensors) */
  const prunedModel = async (r: OneShotResult): Promise<{ m: LlamaModel; owned: tf.Tensor[] }> => {
    const weights = new Map(model.weights);
    const owned: tf.Tensor[] = [];
    for (const [name, mask] of r.masks) {
      const w = r.weights?.get(name) ?? maskedWeight((await model.weights.get(name)!.data()) as Float32Array, mask);
      const t = tf.tensor2d(w, r.shapes.get(name)!);
      owned.push(t);
      weights.set(name, t);
    }
    return { m: { config: model.config, weights }, owned };
  };

  const rows: Array<{ method: string; perplexity: number; pruneSeconds: number; evalSeconds: number; sparsity: number; allVerified: boolean; meanRelError: number | null }> = [];
  let t = performance.now();
  const dense = evaluate(model);
  rows.push({ method: "dense", perplexity: dense.perplexity, pruneSeconds: 0, evalSeconds: (performance.now() - t) / 1000, sparsity: 0, allVerified: true, meanRelError: null });
  const runs: Array<{ label: string; method: OneShotMethod; update: boolean }> = [
    { label: "magnitude", method: "magnitude", update: false },
    { label: "wanda", method: "wanda", update: false },
    { label: "sparsegpt (mask only)", method: "sparsegpt", update: false },
    { label: "sparsegpt (update)", method: "sparsegpt", update: true },
  ];
  for (const run of runs) {
    const r = await computeOneShotMasks(model, calib, { method: run.method, pattern, update: run.update, batchSize });
    const { m, owned } = await prunedModel(r);
    t = performance.now();
    const ppl = evaluate(m);
    const evalSeconds = (performance.now() - t) / 1000;
    tf.dispose(owned);
    const errs = r.report.layers.map((l) => l.relError!).filter((e) => e !== null);
    rows.push({
      method: run.label, perplexity: ppl.perplexity, pruneSeconds: r.report.seconds, evalSeconds, sparsity: r.report.sparsity, allVerified: r.report.allVerified,
      meanRelError: errs.length ? errs.reduce((a, b) => a + b, 0) / errs.length : null,
    });
    process.stderr.write(`${run.label}: ppl ${ppl.perplexity.toFixed(3)} (${r.report.seconds.toFixed(1)} s)\n`);
  }

  const head = ["method", "perplexity", "prune s", "eval s", "sparsity", "N:M ok", "mean rel.err"];
  const cells = rows.map((r) => [r.method, r.perplexity.toFixed(3), r.pruneSeconds.toFixed(2), r.evalSeconds.toFixed(2), r.sparsity.toFixed(4), r.allVerified ? "yes" : "NO", r.meanRelError === null ? "-" : r.meanRelError.toFixed(4)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
  console.log(`stories260K, ${args.pattern}, ${calib.length} calibration windows × ${seqLen} tokens (seed ${seed}), eval ${evalWin.length} windows × 256 of heldout-data00-667.txt, backend ${backend}`);
  console.log([line(head), ...cells.map(line)].join("\n"));
  const ppl = (k: string) => rows.find((r) => r.method === k)!.perplexity;
  const orderHolds = ppl("sparsegpt (update)") <= ppl("wanda") && ppl("wanda") <= ppl("magnitude");
  console.log(`expected order sparsegpt(update) <= wanda <= magnitude: ${orderHolds ? "holds" : "DOES NOT hold"}`);
  console.log(JSON.stringify({
    bench: "oneshot", model: "stories260K", pattern: args.pattern, backend, calibration: { windows: calib.length, seqLen, seed, file: resolve(calibFile) },
    evalWindows: evalWin.length, tokenizeSeconds, results: rows, orderHolds,
  }));
  for (const w of model.weights.values()) w.dispose();
} finally {
  await rm(dir, { recursive: true, force: true });
}
