// One-shot N:M pruning of a LLaMA model: magnitude, Wanda or SparseGPT, calibrated layer by layer.
// As in the SparseGPT and Wanda code, block l's statistics come from inputs that already went through the pruned
// blocks 0..l-1: per block, one pass collects statistics, then its linears are pruned, then a second pass
// computes the block's outputs with the pruned weights (the next block's inputs) and measures the error.
import * as tf from "@tensorflow/tfjs";
import { embed, decoderLayer, linearWeightNames, type LlamaModel } from "../llama/model.js";
import { assertPattern, formatPattern, type NMPattern } from "../mask/patterns.js";
import { nmMaskFromScores } from "../mask/select.js";
import { verifyNMMask, zerosMatchMask } from "../mask/verify.js";
import { magnitudeScores, wandaScores } from "./scores.js";
import { sparseGpt } from "./sparsegpt.js";
import { StatsCollector, type LinearStats } from "./calibration-stats.js";
import { selectLayers, DEFAULT_TARGETS, DEFAULT_IGNORE } from "./select-layers.js";
import { PruneInputError } from "./errors.js";

export const ONE_SHOT_METHODS = ["magnitude", "wanda", "sparsegpt"] as const;
export type OneShotMethod = (typeof ONE_SHOT_METHODS)[number];

export interface OneShotProgress {
  phase: "embed" | "calibrate" | "prune" | "propagate";
  /** decoder block, 0-based (-1 while embedding) */
  layer: number;
  layers: number;
  /** the linear being pruned (phase "prune") */
  weightName?: string;
}

export interface OneShotOptions {
  method: OneShotMethod;
  pattern: NMPattern;
  /** SparseGPT only: OBS compensation of the kept weights (default false: the mask alone, MaskLLM's prior) */
  update?: boolean;
  /** module-name globs (see select-layers.ts); defaults: the seven q/k/v/o/gate/up/down projections */
  targets?: readonly string[];
  /** defaults: lm_head, embed_tokens */
  ignore?: readonly string[];
  /** calibration windows per forward pass (default 8) */
  batchSize?: number;
  /** SparseGPT lazy-batch width (default 128) and dampening fraction (default 0.01) */
  blockSize?: number;
  percDamp?: number;
  onProgress?: (p: OneShotProgress) => void;
  signal?: AbortSignal;
}

export interface LayerReport {
  name: string;
  /** [out, in] */
  shape: [number, number];
  /** fraction of exact zeros in the pruned weight */
  sparsity: number;
  /** the mask is exactly N:M and the pruned weight is zero wherever the mask is */
  nmVerified: boolean;
  /** ‖WX − ŴX‖_F / ‖WX‖_F over the linear's calibration inputs X in the pruned model; null without calibration */
  relError: number | null;
  /** SparseGPT's Σ (w − q)²/U_ii²/2 */
  loss?: number;
  /** input features that never fired on the calibration data (SparseGPT) */
  deadColumns?: number;
  /** time spent choosing this linear's mask (and updating it) */
  seconds: number;
}

export interface PruneReport {
  method: OneShotMethod;
  pattern: string;
  update: boolean;
  calibration: { windows: number; seqLen: number; tokens: number };
  layers: LayerReport[];
  /** zeros / weights over all pruned linears */
  sparsity: number;
  allVerified: boolean;
  seconds: number;
}

export interface OneShotResult {
  /** per HF weight name: Uint8Array 0/1 (1 = keep), row-major in the weight's [out, in] layout */
  masks: Map<string, Uint8Array>;
  shapes: Map<string, [number, number]>;
  /** update mode only: the compensated weights (Float32, [out, in] row-major, exact zeros where the mask is 0) */
  weights?: Map<string, Float32Array>;
  report: PruneReport;
}

/** W ⊙ mask as a new Float32Array (exact +0 at pruned entries). */
export function maskedWeight(weight: ArrayLike<number>, mask: Uint8Array): Float32Array {
  const out = new Float32Array(weight.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? weight[i] : 0;
  return out;
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("pruning aborted");
}

/** Checks the windows are of one length with ids in the vocabulary; returns that length (0 without windows). */
export function validateWindows(windows: readonly Int32Array[], vocab: number): number {
  if (windows.length === 0) return 0;
  const seq = windows[0].length;
  if (seq < 1) throw new PruneInputError("calibration windows must hold at least one token");
  windows.forEach((w, i) => {
    if (w.length !== seq) throw new PruneInputError(`calibration window ${i} has ${w.length} tokens, window 0 has ${seq}`);
    for (const id of w) if (id < 0 || id >= vocab) throw new PruneInputError(`calibration window ${i} holds token id ${id} outside the vocabulary [0, ${vocab})`);
  });
  return seq;
}

interface Pruned {
  mask: Uint8Array;
  weight: Float32Array;
  loss?: number;
  deadColumns?: number;
}

function pruneMatrix(w: Float32Array, rows: number, cols: number, stats: LinearStats | undefined, opts: OneShotOptions, update: boolean): Pruned {
  const p = opts.pattern;
  if (opts.method === "magnitude") {
    const mask = nmMaskFromScores(magnitudeScores(w), rows, cols, p);
    return { mask, weight: maskedWeight(w, mask) };
  }
  if (!stats) throw new PruneInputError(`no calibration statistics reached ${opts.method} for a ${rows}×${cols} linear`);
  if (opts.method === "wanda") {
    const mask = nmMaskFromScores(wandaScores(w, rows, cols, stats.sums), rows, cols, p);
    return { mask, weight: maskedWeight(w, mask) };
  }
  // H = 2·XᵀX/n, scaled in place: the gram sums are not needed afterwards
  const h = stats.sums;
  const scale = 2 / stats.tokens;
  for (let i = 0; i < h.length; i++) h[i] *= scale;
  const r = sparseGpt(w, rows, cols, h, { pattern: p, update, blockSize: opts.blockSize, percDamp: opts.percDamp });
  return { mask: r.mask, weight: r.weight ?? maskedWeight(w, r.mask), loss: r.loss, deadColumns: r.deadColumns };
}

/**
 * Prunes the selected linears of `model` to N:M. The model is not modified: pruned tensors live in a private
 * working copy of the weight map and are disposed before returning. `calibWindows` are token-id windows of equal
 * length (may be empty for magnitude, which then reports no reconstruction error).
 */
export async function computeOneShotMasks(model: LlamaModel, calibWindows: readonly Int32Array[], opts: OneShotOptions): Promise<OneShotResult> {
  const t0 = performance.now();
  const { method, pattern } = opts;
  assertPattern(pattern);
  if (!ONE_SHOT_METHODS.includes(method)) throw new PruneInputError(`unknown method '${method}' (one of ${ONE_SHOT_METHODS.join(", ")})`);
  const update = opts.update ?? false;
  if (update && method !== "sparsegpt") throw new PruneInputError(`weight update exists only for sparsegpt, not ${method}`);
  const config = model.config;
  const seqLen = validateWindows(calibWindows, config.vocabSize);
  if (method !== "magnitude" && calibWindows.length === 0) throw new PruneInputError(`${method} needs calibration windows`);

  const candidates = [...model.weights.entries()].filter(([k, t]) => k.endsWith(".weight") && t.rank === 2).map(([k]) => k);
  const selected = selectLayers(candidates, opts.targets ?? DEFAULT_TARGETS, opts.ignore ?? DEFAULT_IGNORE);
  const shapes = new Map<string, [number, number]>();
  const bad: string[] = [];
  for (const name of selected) {
    const [out, inp] = model.weights.get(name)!.shape as [number, number];
    shapes.set(name, [out, inp]);
    if (inp % pattern.m !== 0) bad.push(`${name} [${out}, ${inp}]`);
  }
  if (bad.length) throw new PruneInputError(`${formatPattern(pattern)} needs input dimensions divisible by ${pattern.m}: ${bad.join(", ")}`);
  const layerOf = new Map(linearWeightNames(config).map((n) => [n, Number(n.split(".")[2])] as const));
  const outside = selected.filter((n) => !layerOf.has(n));
  if (method !== "magnitude" && outside.length)
    throw new PruneInputError(`${method} calibrates only the linears inside decoder blocks; not: ${outside.join(", ")}`);

  const masks = new Map<string, Uint8Array>();
  const weights = update ? new Map<string, Float32Array>() : undefined;
  const reports = new Map<string, LayerReport>();
  const layers = config.numHiddenLayers;
  const progress = (phase: OneShotProgress["phase"], layer: number, weightName?: string) => opts.onProgress?.({ phase, layer, layers, ...(weightName ? { weightName } : {}) });

  const work: LlamaModel = { config, weights: new Map(model.weights) };
  const owned: tf.Tensor[] = [];
  let hs: tf.Tensor3D[] = [];
  const deltas = new Map<string, tf.Tensor2D>();

  const pruneOne = async (name: string, stats: LinearStats | undefined) => {
    const t1 = performance.now();
    const wt = work.weights.get(name) as tf.Tensor2D;
    const [rows, cols] = shapes.get(name)!;
    const w = (await wt.data()) as Float32Array;
    const r = pruneMatrix(w, rows, cols, stats, opts, update);
    masks.set(name, r.mask);
    if (weights) weights.set(name, r.weight);
    let zeros = 0;
    for (let i = 0; i < r.weight.length; i++) if (r.weight[i] === 0) zeros++;
    const nmVerified = verifyNMMask(r.mask, rows, cols, pattern).ok && zerosMatchMask(r.weight, r.mask);
    reports.set(name, {
      name, shape: [rows, cols], sparsity: zeros / r.weight.length, nmVerified, relError: null,
      ...(r.loss !== undefined ? { loss: r.loss } : {}), ...(r.deadColumns !== undefined ? { deadColumns: r.deadColumns } : {}),
      seconds: (performance.now() - t1) / 1000,
    });
    return r.weight;
  };

  try {
    const batch = Math.max(1, Math.floor(opts.batchSize ?? 8));
    if (calibWindows.length) {
      progress("embed", -1);
      for (let b = 0; b < calibWindows.length; b += batch) {
        const chunk = calibWindows.slice(b, b + batch);
        const flat = new Int32Array(chunk.length * seqLen);
        chunk.forEach((w, i) => flat.set(w, i * seqLen));
        const ids = tf.tensor2d(flat, [chunk.length, seqLen], "int32");
        hs.push(embed(work, ids));
        ids.dispose();
      }
      for (let l = 0; l < layers; l++) {
        checkAbort(opts.signal);
        const names = selected.filter((n) => layerOf.get(n) === l);
        let stats: Map<string, LinearStats> | undefined;
        if (names.length && method !== "magnitude") {
          progress("calibrate", l);
          const collector = new StatsCollector(method === "wanda" ? "columnNorms" : "gram", new Set(names));
          for (const h of hs) {
            tf.dispose(decoderLayer(work, l, h, { onLinearInput: collector.onLinearInput }));
            collector.endBatch();
            await tf.nextFrame();
            checkAbort(opts.signal);
          }
          stats = collector.stats;
        }
        for (const name of names) {
          progress("prune", l, name);
          const pruned = await pruneOne(name, stats?.get(name));
          stats?.delete(name);
          const [rows, cols] = shapes.get(name)!;
          const pt = tf.tensor2d(pruned, [rows, cols]);
          owned.push(pt);
          deltas.set(name, tf.sub(model.weights.get(name)!, pt));
          work.weights.set(name, pt);
          checkAbort(opts.signal);
        }
        // the block's outputs with its pruned weights, and the error of each pruned linear on its inputs X:
        // ‖ΔW·Xᵀ‖² = tr(ΔW·G·ΔWᵀ) with G = XᵀX, far cheaper than two extra projections per batch
        progress("propagate", l);
        const grams = names.length ? new StatsCollector("gram", new Set(names)) : undefined;
        const next: tf.Tensor3D[] = [];
        try {
          for (const h of hs) {
            next.push(decoderLayer(work, l, h, grams ? { onLinearInput: grams.onLinearInput } : undefined));
            grams?.endBatch();
            await tf.nextFrame();
          }
        } catch (err) {
          tf.dispose(next);
          throw err;
        }
        tf.dispose(hs);
        hs = next;
        for (const name of names) {
          const d = deltas.get(name)!;
          const g = grams!.stats.get(name)!;
          const [e, r] = tf.tidy(() => {
            const gt = tf.tensor2d(Float32Array.from(g.sums), [g.features, g.features]);
            const quad = (m: tf.Tensor2D) => tf.sum(tf.mul(tf.matMul(m, gt), m));
            return [quad(d), quad(model.weights.get(name) as tf.Tensor2D)];
          }).map((t) => {
            const v = t.dataSync()[0];
            t.dispose();
            return Math.max(0, v);
          });
          d.dispose();
          deltas.delete(name);
          reports.get(name)!.relError = r > 0 ? Math.sqrt(e / r) : e > 0 ? Infinity : 0;
        }
      }
    }
    // data-free layers: everything for magnitude without calibration, or lm_head / embeddings if asked for
    for (const name of selected) if (!masks.has(name)) {
      checkAbort(opts.signal);
      progress("prune", layerOf.get(name) ?? -1, name);
      await pruneOne(name, undefined);
    }
  } finally {
    tf.dispose(hs);
    tf.dispose([...deltas.values()]);
    tf.dispose(owned);
  }

  const report = pruneReport({ method, pattern, update }, calibWindows.length, seqLen, selected.map((n) => reports.get(n)!), t0);
  return { masks, shapes, ...(weights ? { weights } : {}), report };
}

/** A run's report from its linears' reports; t0: when the run started (performance.now()). */
export function pruneReport(run: { method: OneShotMethod; pattern: NMPattern; update: boolean }, windows: number, seqLen: number, layers: LayerReport[], t0: number): PruneReport {
  let zeros = 0, total = 0;
  for (const r of layers) {
    const numel = r.shape[0] * r.shape[1];
    zeros += r.sparsity * numel;
    total += numel;
  }
  return {
    method: run.method, pattern: formatPattern(run.pattern), update: run.update,
    calibration: { windows, seqLen, tokens: windows * seqLen },
    layers, sparsity: total ? zeros / total : 0,
    allVerified: layers.every((r) => r.nmVerified), seconds: (performance.now() - t0) / 1000,
  };
}
