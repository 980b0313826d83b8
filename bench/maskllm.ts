// MaskLLM bench: stories260K at 2:4. Perplexity on the TinyStories held-out file for dense, SparseGPT (with update),
// SparseGPT mask-only (MaskLLM's prior) and MaskLLM after each budget in --steps-list (each run's schedules span its
// own budget); training tokens/s and the time split of a step, on one thread and with training threads; and transfer
// to WikiText: a run whose prior is a stored general mask distribution (learned on a TinyStories + WikiText blend that
// excludes the target's text; mask_logits.safetensors written and read back) against a from-scratch run (SparseGPT
// prior). Every run uses the default two micro-batches a step, on --threads training threads (default: one per
// core, at most two). Prints every figure and one final JSON line.
//   npm run bench:maskllm -- [--steps-list 100,300,1000] [--transfer-source-steps 300] [--transfer-steps 200]
//                            [--transfer-budgets 25,50,100,150] [--no-transfer] [--no-equal-budget-scratch] [--threads N]
//                            [--native auto|off]
//                            [--eval-windows N] [--wiki-eval-windows N] [--shared ../shared]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/maskllm/backend.js";
import { importLlama2c } from "../src/checkpoint/llama2c.js";
import { loadModelDir } from "../src/checkpoint/load.js";
import { evalWindows, readDocuments, sampleWindows, tokenizeStream } from "../src/checkpoint/text-dataset.js";
import { perplexity } from "../src/maskllm/eval/perplexity.js";
import type { LlamaModel } from "../src/maskllm/llama/model.js";
import { computeOneShotMasks } from "../src/maskllm/prune/oneshot.js";
import { trainMasks, type TrainMasksResult } from "../src/maskllm/train/loop.js";
import { DEFAULT_TRAINING_OPTIONS } from "../src/maskllm/train/options.js";
import { applyMasks, trimMasks } from "../src/maskllm/train/trim.js";
import { encodeMaskLogits, decodeMaskLogits } from "../src/checkpoint/mask-logits.js";
import { hardMaskFromLogits } from "../src/maskllm/train/trim.js";
import { formatPattern } from "../src/maskllm/mask/patterns.js";
import { defaultTrainingThreads } from "../src/parallel/thread-replicas.js";
import { startTrainingThreads, type TrainingThreads } from "../src/parallel/training-threads.js";
import { useNativeKernels, type NativeKernelsMode } from "../src/native/kernels.js";

const P24 = { n: 2, m: 4 };
const SEQ = 256;
const BATCH = 8;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const nums = (s: string | undefined, d: number[]) => (s ? s.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0) : d);
const stepsList = nums(arg("steps-list"), [100, 300, 1000]);
const transferSteps = Number(arg("transfer-steps") ?? 200);
const transferSourceSteps = Number(arg("transfer-source-steps") ?? 300);
const transferBudgets = nums(arg("transfer-budgets"), [25, 50, 100, 150]);
const MICRO_BATCHES = DEFAULT_TRAINING_OPTIONS.microBatches;
const threads = Number(arg("threads") ?? defaultTrainingThreads(MICRO_BATCHES));
const doTransfer = !process.argv.includes("--no-transfer");
// also train from scratch at each transfer budget (equal-budget comparison)
const equalBudgetScratch = !process.argv.includes("--no-equal-budget-scratch");
const evalCap = arg("eval-windows") ? Number(arg("eval-windows")) : Infinity;
const wikiEvalCap = Number(arg("wiki-eval-windows") ?? 256);
const shared = resolve(arg("shared") ?? "../shared");
// the host trainer's linear products: the native addon where it loads (as jobs run them), or off: wasm
const native = (arg("native") ?? "auto") as NativeKernelsMode;
if (native !== "auto" && native !== "off") throw new Error(`--native takes auto or off, got ${native}`);
const log = (s: string) => process.stdout.write(`${s}\n`);
const f = (x: number, d = 3) => x.toFixed(d);

/** The model with some linears replaced (the other weights shared, not copied). */
function withWeights(model: LlamaModel, replaced: Map<string, tf.Tensor>): LlamaModel {
  const weights = new Map(model.weights);
  for (const [k, v] of replaced) weights.set(k, v);
  return { config: model.config, weights };
}

function ppl(model: LlamaModel, windows: Int32Array[]): number {
  return perplexity(model, windows, { batchSize: BATCH }).perplexity;
}

function pplWithMasks(model: LlamaModel, masks: Map<string, Uint8Array>, windows: Int32Array[]): number {
  const sparse = applyMasks(model, masks, P24);
  try {
    return ppl(withWeights(model, sparse), windows);
  } finally {
    for (const t of sparse.values()) t.dispose();
  }
}

let pool: TrainingThreads | undefined; // the training threads (this one included), shared by every run

async function train(model: LlamaModel, windows: Int32Array[], prior: Map<string, Uint8Array>, steps: number, label: string): Promise<TrainMasksResult> {
  const every = Math.max(1, Math.round(steps / 10));
  return trainMasks({
    model, windows, prior, replicas: pool?.replicas, executor: pool?.executor, options: { steps, batchSize: BATCH, microBatches: MICRO_BATCHES, seed: 0, progressEvery: every },
    onProgress: (p) => log(`  [${label}] step ${p.step}/${p.steps} loss ${f(p.loss)} lm ${f(p.lmLoss)} reg ${f(p.regLoss, 1)} τ ${f(p.tau, 2)} κ ${f(p.kappa, 0)} change ${f(p.maskChange, 4)} maxProb ${f(p.maxProb)} ${f(p.tokensPerSec, 0)} tok/s eta ${f(p.etaSeconds, 0)} s`),
  });
}

function split(r: TrainMasksResult) {
  const t = r.timing;
  const per = (x: number) => x / Math.max(1, t.steps);
  return { noiseMs: per(t.noiseMs), maskMs: per(t.maskMs), forwardMs: per(t.forwardMs), backwardMs: per(t.backwardMs), replicaWaitMs: per(t.replicaWaitMs), optimizerMs: per(t.optimizerMs) };
}

const backend = await initBackend("wasm");
const tmp = await mkdtemp(join(tmpdir(), "maskforge-bench-"));
const result: Record<string, unknown> = { bench: "maskllm", backend, pattern: "2:4", batch: BATCH, seqLen: SEQ, microBatches: MICRO_BATCHES, threads, stepsList };
try {
  const dir = join(tmp, "stories260K");
  const m = join(shared, "models/stories260K");
  await importLlama2c({ modelPath: join(m, "stories260K.bin"), tokenizerPath: join(m, "tok512.model"), outDir: dir });
  const { model, tokenizer } = await loadModelDir(dir);
  const bos = tokenizer.bosId;
  const trainTokens = tokenizeStream(tokenizer, readDocuments(await readFile(join(shared, "data/tinystories/train-sample-2MiB.txt"), "utf8"), "stories"), { bos });
  const heldTokens = tokenizeStream(tokenizer, readDocuments(await readFile(join(shared, "data/tinystories/heldout-data00-667.txt"), "utf8"), "stories"), { bos });
  const trainWindows = evalWindows(trainTokens, SEQ);
  const heldWindows = evalWindows(heldTokens, SEQ).slice(0, evalCap);
  const calib = sampleWindows(trainTokens, 128, SEQ, 0);
  const kernels = useNativeKernels(native).kernels;
  result.kernels = kernels;
  pool = await startTrainingThreads(model, threads, "wasm");
  log(`stories260K 2:4 on ${backend} (linear products: ${kernels}), ${MICRO_BATCHES} micro-batches a step on ${threads} thread(s); train ${trainTokens.length} tokens (${trainWindows.length} windows of ${SEQ}), held-out ${heldWindows.length} windows; calibration 128×${SEQ}`);

  const dense = ppl(model, heldWindows);
  log(`dense perplexity                  ${f(dense)}`);
  const sgU = await computeOneShotMasks(model, calib, { method: "sparsegpt", pattern: P24, update: true });
  const sgUT = new Map([...sgU.weights!].map(([k, v]) => [k, tf.tensor2d(v, sgU.shapes.get(k)!)] as const));
  const sgptUpdate = ppl(withWeights(model, sgUT), heldWindows);
  for (const t of sgUT.values()) t.dispose();
  log(`SparseGPT (with update)           ${f(sgptUpdate)}`);
  const sgM = await computeOneShotMasks(model, calib, { method: "sparsegpt", pattern: P24, update: false });
  const prior = sgM.masks;
  const sgptMask = pplWithMasks(model, prior, heldWindows);
  log(`SparseGPT mask-only (the prior)   ${f(sgptMask)}`);
  const gap = sgptUpdate - dense;
  result.tinystories = { dense, sparsegptUpdate: sgptUpdate, sparsegptMaskOnly: sgptMask, heldOutWindows: heldWindows.length };

  const runs: Record<string, unknown>[] = [];
  for (const steps of stepsList) {
    log(`MaskLLM ${steps} steps (prior: SparseGPT mask-only, batch ${BATCH}×${SEQ}, seed 0, ${threads} thread(s))`);
    const r = await train(model, trainWindows, prior, steps, `${steps}`);
    const masks = trimMasks(r.logits, r.targets, P24);
    const p = pplWithMasks(model, masks, heldWindows);
    const ratio = (p - dense) / gap;
    const s = split(r);
    const run = { steps, perplexity: p, increaseRatioVsSparseGptUpdate: ratio, tokensPerSec: r.tokensPerSec, stepMs: s, final: r.last };
    runs.push(run);
    log(`MaskLLM ${steps} steps: perplexity ${f(p)}; increase over dense ${f(p - dense)} = ${f(ratio)} × SparseGPT-with-update's ${f(gap)}`);
    log(`  training ${f(r.tokensPerSec, 0)} tokens/s on ${threads} thread(s); per step: noise ${f(s.noiseMs, 1)} ms, masks ${f(s.maskMs, 1)} ms, forward ${f(s.forwardMs, 1)} ms, backward ${f(s.backwardMs, 1)} ms (this thread's micro-batch), waiting for the other threads ${f(s.replicaWaitMs, 1)} ms, optimizer ${f(s.optimizerMs, 1)} ms`);
  }
  result.maskllm = runs;

  {
    // speed only, 30 steps each: the default two micro-batches on one thread and on `threads` threads (the same mask),
    // and the whole batch as one part on one thread. The wait is how long the loop's thread sat idle for the others.
    const speed: Record<string, unknown> = {};
    const configs: [microBatches: number, threads: number][] = [[1, 1], [MICRO_BATCHES, 1]];
    if (threads > 1) configs.push([MICRO_BATCHES, threads]);
    for (const [mb, th] of configs) {
      const label = `threads${th}MicroBatches${mb}`;
      const r = await trainMasks({ model, windows: trainWindows, prior, ...(th > 1 ? { replicas: pool.replicas, executor: pool.executor } : {}), options: { steps: 30, batchSize: BATCH, microBatches: mb, seed: 0, progressEvery: 30 } });
      const s = split(r);
      speed[label] = { microBatches: mb, threads: th, tokensPerSec: r.tokensPerSec, stepMs: s };
      log(`speed, ${mb} micro-batch(es) on ${th} thread(s), 30 steps: ${f(r.tokensPerSec, 0)} tokens/s; per step: noise ${f(s.noiseMs, 1)} ms, masks ${f(s.maskMs, 1)} ms, forward ${f(s.forwardMs, 1)} ms, backward ${f(s.backwardMs, 1)} ms, waiting ${f(s.replicaWaitMs, 1)} ms, optimizer ${f(s.optimizerMs, 1)} ms`);
    }
    result.speed = speed;
  }

  if (doTransfer) {
    // Transfer as the paper does it (maskllm.md §6): a general mask, learned on a blend of domains, is the prior of a
    // run on one domain. WikiText (one document) is cut by tokens into A (first 40%: in the blend), B (next 45%: the
    // target's training text) and C (last 15%: held out). The general mask never sees B or C.
    const wikiTokens = tokenizeStream(tokenizer, readDocuments(await readFile(join(shared, "data/wikitext-2-raw/wiki.test.raw"), "utf8"), "wikitext"), { bos });
    const cutA = Math.floor(wikiTokens.length * 0.4);
    const cutB = Math.floor(wikiTokens.length * 0.85);
    const wA = evalWindows(wikiTokens.subarray(0, cutA), SEQ);
    const wB = evalWindows(wikiTokens.subarray(cutA, cutB), SEQ);
    const wHeld = evalWindows(wikiTokens.subarray(cutB), SEQ).slice(0, wikiEvalCap);
    // the blend: TinyStories and WikiText-A windows alternating
    const blend: Int32Array[] = [];
    for (let i = 0; i < Math.min(trainWindows.length, wA.length); i++) blend.push(trainWindows[i], wA[i]);
    log(`transfer to WikiText: ${wikiTokens.length} tokens; blend ${blend.length} windows (TinyStories + WikiText-A ${wA.length}), target training WikiText-B ${wB.length} windows, held-out WikiText-C ${wHeld.length}`);
    const blendPrior = (await computeOneShotMasks(model, sampleWindows(Int32Array.from(blend.flatMap((w) => Array.from(w))), 128, SEQ, 0), { method: "sparsegpt", pattern: P24, update: false })).masks;
    const general = await train(model, blend, blendPrior, transferSourceSteps, `general ${transferSourceSteps}`);
    const stored = encodeMaskLogits(general.logits, 6, { pattern: formatPattern(P24), steps: transferSourceSteps, hyperparameters: { ...general.options } as Record<string, unknown>, parentMask: "sparsegpt-mask-only", seed: 0 });
    const file = await decodeMaskLogits(stored); // the stored distribution, read back as a new run would
    const generalMask = new Map([...file.logits].map(([k, l]) => [k, hardMaskFromLogits(l, P24)] as const));
    const wDense = ppl(model, wHeld);
    const wGeneral = pplWithMasks(model, generalMask, wHeld);
    const wPrior = (await computeOneShotMasks(model, sampleWindows(wikiTokens.subarray(cutA, cutB), 128, SEQ, 0), { method: "sparsegpt", pattern: P24, update: false })).masks;
    const wPriorPpl = pplWithMasks(model, wPrior, wHeld);
    log(`  WikiText-C: dense ${f(wDense)}, general mask (${transferSourceSteps} steps on the blend) ${f(wGeneral)}, SparseGPT mask-only on WikiText-B ${f(wPriorPpl)}`);
    const scratch = await train(model, wB, wPrior, transferSteps, `wiki scratch ${transferSteps}`);
    const scratchPpl = pplWithMasks(model, trimMasks(scratch.logits, scratch.targets, P24), wHeld);
    log(`  from scratch (SparseGPT prior), ${transferSteps} steps on WikiText-B: ${f(scratchPpl)}`);
    const transfer: { steps: number; perplexity: number; scratchSameSteps?: number }[] = [];
    for (const b of transferBudgets) {
      const r = await train(model, wB, generalMask, b, `wiki transfer ${b}`);
      const p = pplWithMasks(model, trimMasks(r.logits, r.targets, P24), wHeld);
      const row: { steps: number; perplexity: number; scratchSameSteps?: number } = { steps: b, perplexity: p };
      log(`  transfer (prior: the stored general distribution), ${b} steps: ${f(p)} ${p <= scratchPpl ? "<=" : ">"} scratch@${transferSteps} ${f(scratchPpl)}`);
      if (equalBudgetScratch) {
        const sr = await train(model, wB, wPrior, b, `wiki scratch ${b}`);
        row.scratchSameSteps = pplWithMasks(model, trimMasks(sr.logits, sr.targets, P24), wHeld);
        log(`  from scratch, same ${b} steps: ${f(row.scratchSameSteps)}`);
      }
      transfer.push(row);
    }
    const reached = transfer.filter((t) => t.perplexity <= scratchPpl).map((t) => t.steps);
    result.transfer = {
      source: `general mask: ${transferSourceSteps} steps on TinyStories + WikiText-A (mask_logits.safetensors)`, wikiHeldOutWindows: wHeld.length,
      dense: wDense, generalMask: wGeneral, sparsegptMaskOnly: wPriorPpl,
      scratch: { steps: transferSteps, perplexity: scratchPpl }, transfer,
      fewestStepsReachingScratch: reached.length ? Math.min(...reached) : null,
    };
    log(`  transfer reaches the from-scratch perplexity in ${reached.length ? `${Math.min(...reached)} steps (scratch: ${transferSteps})` : "none of the budgets tried"}`);
  }
  for (const t of model.weights.values()) t.dispose();
} finally {
  await pool?.close();
  await rm(tmp, { recursive: true, force: true });
}
log(JSON.stringify(result));
