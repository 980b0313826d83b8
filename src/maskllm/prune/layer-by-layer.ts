// One-shot N:M pruning of models that do not fit in memory, one decoder layer at a time (llm-compressor's sequential
// pipeline): only the current layer's weights, the calibration activations entering it and its statistics are
// resident. Weights are pulled from a source per layer (a sharded bf16 checkpoint, say) and each pruned layer is
// handed to the caller before the next is read. Everything runs on host arrays through an Executor, so every product
// is our GEMM split over the threads: the layer's forward, the Hessians XᵀX (gram.ts: upper triangle only), and
// SparseGPT's Cholesky (float32, blocked). The order of work is computeOneShotMasks' (oneshot.ts): per layer, one
// pass with its dense weights collects the statistics of every targeted linear, they are pruned, and a second pass
// with the pruned weights gives the next layer's inputs.
import type { LlamaConfig } from "../llama/config.js";
import { LINEAR_SUFFIXES } from "../llama/model.js";
import { attentionRopeValues } from "../llama/rope.js";
import type { RopeValues } from "../kernels/attention-module.js";
import { decoderLayerForward, layerDims, qkNormBuffers, type LayerForward, type LinearSuffix } from "../host/layer-forward.js";
import type { Executor } from "../host/ops.js";
import { assertPattern, formatPattern } from "../mask/patterns.js";
import { nmMaskFromScores } from "../mask/select.js";
import { verifyNMMask, zerosMatchMask } from "../mask/verify.js";
import { choleskyWorkspace } from "../linalg/cholesky-blocked.js";
import { magnitudeScores, wandaScores } from "./scores.js";
import { GramAccumulator, symmetricFromUpper } from "./gram.js";
import { sparseGpt, sparseGptMaskF32 } from "./sparsegpt.js";
import { selectLayers, DEFAULT_TARGETS, DEFAULT_IGNORE } from "./select-layers.js";
import { ONE_SHOT_METHODS, pruneReport, validateWindows, type LayerReport, type OneShotOptions, type PruneReport } from "./oneshot.js";
import { PruneInputError } from "./errors.js";

/** Where a layer's tensors come from: float32 values of an HF-named tensor, read when asked for. */
export interface WeightSource {
  read(name: string): Promise<Float32Array>;
}

export interface LayerByLayerOptions extends Omit<OneShotOptions, "batchSize"> {
  executor: Executor;
  /** calibration windows per forward pass (default 8): what the layer's activations are sized for */
  windowsPerBatch?: number;
}

export interface PrunedLayer {
  layer: number;
  /** the pruned weights (exact zeros where the mask is 0), by HF name; views valid until the next layer is asked for */
  weights: Map<string, Float32Array>;
  /** 1 = keep, row-major [out, in] */
  masks: Map<string, Uint8Array>;
}

/** The four inputs a decoder layer's linears read: q/k/v, o, gate/up and down share them in this way. */
type InputKind = Parameters<NonNullable<LayerForward["onLinearInput"]>>[0];
const INPUT_OF: Record<LinearSuffix, InputKind> = {
  "self_attn.q_proj": "attn",
  "self_attn.k_proj": "attn",
  "self_attn.v_proj": "attn",
  "self_attn.o_proj": "o",
  "mlp.gate_proj": "mlp",
  "mlp.up_proj": "mlp",
  "mlp.down_proj": "down",
};

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("pruning aborted");
}

/**
 * Prunes the targeted linears of every decoder layer, yielding each layer's pruned weights and masks in order, and
 * returns the report. Only linears inside decoder layers can be targeted (lm_head / embeddings: computeOneShotMasks).
 */
export async function* pruneLayerByLayer(config: LlamaConfig, source: WeightSource, calibWindows: readonly Int32Array[], opts: LayerByLayerOptions): AsyncGenerator<PrunedLayer, PruneReport, void> {
  const t0 = performance.now();
  const { method, pattern, executor: exec } = opts;
  assertPattern(pattern);
  if (!ONE_SHOT_METHODS.includes(method)) throw new PruneInputError(`unknown method '${method}' (one of ${ONE_SHOT_METHODS.join(", ")})`);
  const update = opts.update ?? false;
  if (update && method !== "sparsegpt") throw new PruneInputError(`weight update exists only for sparsegpt, not ${method}`);
  const seq = validateWindows(calibWindows, config.vocabSize);
  const calibrated = method !== "magnitude";
  if (calibrated && calibWindows.length === 0) throw new PruneInputError(`${method} needs calibration windows`);

  const L = config.numHiddenLayers;
  const { d, qd, kvd, f } = layerDims(config);
  const outside = ["model.embed_tokens.weight", ...(config.tieWordEmbeddings ? [] : ["lm_head.weight"])];
  const inLayers = Array.from({ length: L }, (_, l) => LINEAR_SUFFIXES.map((s) => `model.layers.${l}.${s}.weight`)).flat();
  const selected = selectLayers([...inLayers, ...outside], opts.targets ?? DEFAULT_TARGETS, opts.ignore ?? DEFAULT_IGNORE);
  const notLayer = selected.filter((n) => outside.includes(n));
  if (notLayer.length) throw new PruneInputError(`layer-by-layer pruning covers the linears inside decoder layers only; not: ${notLayer.join(", ")}`);
  const shapeOf: Record<LinearSuffix, [number, number]> = {
    "self_attn.q_proj": [qd, d],
    "self_attn.k_proj": [kvd, d],
    "self_attn.v_proj": [kvd, d],
    "self_attn.o_proj": [d, qd],
    "mlp.gate_proj": [f, d],
    "mlp.up_proj": [f, d],
    "mlp.down_proj": [d, f],
  };
  const bad = LINEAR_SUFFIXES.filter((s) => shapeOf[s][1] % pattern.m !== 0 && selected.some((n) => n.endsWith(`${s}.weight`)));
  if (bad.length) throw new PruneInputError(`${formatPattern(pattern)} needs input dimensions divisible by ${pattern.m}: ${bad.map((s) => `${s} [${shapeOf[s].join(", ")}]`).join(", ")}`);

  // buffers, made once (an executor's buffers live as long as it does) and reused by every layer
  const a = (n: number) => exec.f32(Math.max(1, n));
  const w = new Map<string, Float32Array>(LINEAR_SUFFIXES.map((s) => [s, a(shapeOf[s][0] * shapeOf[s][1])]));
  const inNorm = a(d), postNorm = a(d);
  const qkNorms = config.qkNorm ? { qNorm: a(config.headDim), kNorm: a(config.headDim) } : undefined;
  const bias: Partial<Record<LinearSuffix, Float32Array>> | undefined = config.attentionBias ? { "self_attn.q_proj": a(qd), "self_attn.k_proj": a(kvd), "self_attn.v_proj": a(kvd) } : undefined;
  const windows = calibWindows.length;
  const perBatch = Math.max(1, Math.min(windows || 1, Math.floor(opts.windowsPerBatch ?? 8)));
  const tb = perBatch * seq;
  const widest = Math.max(d, qd, f);
  const act = calibrated
    ? { hs: a(windows * seq * d), next: a(windows * seq * d), xn: a(tb * d), q: a(tb * qd), k: a(tb * kvd), v: a(tb * kvd), o: a(tb * qd), lse: a(tb * config.numAttentionHeads), r1: a(tb), r2: a(tb), a: a(tb * d), gate: a(tb * f), up: a(tb * f), h: a(tb * f), sig: a(tb * f), qk: qkNormBuffers(config, tb, a) }
    : undefined;
  const gram = act && method === "sparsegpt" ? new GramAccumulator(exec, widest, tb) : undefined;
  const sgpt = method === "sparsegpt" && !update ? { ws: choleskyWorkspace(exec, widest), h: a(widest * widest) } : undefined;
  let rope: RopeValues | undefined;
  if (calibrated) {
    const r = attentionRopeValues(seq, config);
    const shared = (x: Float32Array) => {
      const b = a(x.length);
      b.set(x);
      return b;
    };
    rope = { cosQ: shared(r.cosQ), sinQ: shared(r.sinQ), cosK: shared(r.cosK), sinK: shared(r.sinK) };
  }

  const read = async (name: string, into: Float32Array) => {
    const v = await source.read(name);
    if (v.length !== into.length) throw new PruneInputError(`${name} has ${v.length} values, the config needs ${into.length}`);
    into.set(v);
  };
  const progress = (phase: "embed" | "calibrate" | "prune" | "propagate", layer: number, weightName?: string) => opts.onProgress?.({ phase, layer, layers: L, ...(weightName ? { weightName } : {}) });

  if (act) {
    progress("embed", -1);
    const emb = await source.read("model.embed_tokens.weight");
    if (emb.length !== config.vocabSize * d) throw new PruneInputError(`model.embed_tokens.weight has ${emb.length} values, the config needs ${config.vocabSize * d}`);
    gatherRows(emb, calibWindows, d, act.hs);
  }

  /** The layer over `batch` windows from x into `out` (none: the statistics' pass, without down_proj). */
  const forward = (x: Float32Array, batch: number, out: Float32Array | undefined, onLinearInput?: LayerForward["onLinearInput"]) => {
    const T = batch * seq;
    const linear = (suffix: LinearSuffix, xin: Float32Array, y: Float32Array) => {
      const [outDim, inDim] = shapeOf[suffix];
      const b = bias?.[suffix];
      exec.run({ kind: "linear", x: xin, w: w.get(suffix)!, ...(b ? { bias: b } : {}), y, tokens: T, inDim, outDim });
    };
    decoderLayerForward(exec, { config, rope: rope!, inputNorm: inNorm, postNorm, ...qkNorms, linear, onLinearInput }, x, out, batch, seq, act!);
  };

  const addColumnNorms = (x: Float32Array, tokens: number, n: number, s: Float64Array) => {
    for (let t = 0; t < tokens; t++) for (let j = 0, o = t * n; j < n; j++) s[j] += x[o + j] * x[o + j];
  };

  const reports: LayerReport[] = [];
  for (let l = 0; l < L; l++) {
    checkAbort(opts.signal);
    const p = `model.layers.${l}.`;
    for (const s of LINEAR_SUFFIXES) await read(`${p}${s}.weight`, w.get(s)!);
    if (act) {
      await read(`${p}input_layernorm.weight`, inNorm);
      await read(`${p}post_attention_layernorm.weight`, postNorm);
      if (bias) for (const [s, b] of Object.entries(bias)) await read(`${p}${s}.bias`, b);
      if (qkNorms) {
        await read(`${p}self_attn.q_norm.weight`, qkNorms.qNorm);
        await read(`${p}self_attn.k_norm.weight`, qkNorms.kNorm);
      }
    }
    const names = LINEAR_SUFFIXES.filter((s) => selected.includes(`${p}${s}.weight`));

    // statistics of each input some targeted linear reads, from the layer with its dense weights
    const stats = new Map<InputKind, { sums: Float64Array; tokens: number; width: number }>();
    if (act && names.length) {
      progress("calibrate", l);
      for (const s of names) {
        const kind = INPUT_OF[s];
        const width = shapeOf[s][1];
        if (!stats.has(kind)) stats.set(kind, { sums: new Float64Array(method === "sparsegpt" ? width * width : width), tokens: 0, width });
      }
      for (let b = 0; b < windows; b += perBatch) {
        const batch = Math.min(perBatch, windows - b);
        forward(act.hs.subarray(b * seq * d, (b + batch) * seq * d), batch, undefined, (kind, v, width) => {
          const tokens = batch * seq;
          const st = stats.get(kind);
          if (!st) return;
          if (gram) gram.add(v, tokens, width, st.sums);
          else addColumnNorms(v, tokens, width, st.sums);
          st.tokens += tokens;
        });
        checkAbort(opts.signal);
      }
    }

    const masks = new Map<string, Uint8Array>();
    const pruned = new Map<string, Float32Array>();
    for (const s of names) {
      const name = `${p}${s}.weight`;
      progress("prune", l, name);
      const t1 = performance.now();
      const [rows, cols] = shapeOf[s];
      const wt = w.get(s)!;
      const st = stats.get(INPUT_OF[s]);
      let mask: Uint8Array;
      let extra: { loss?: number; deadColumns?: number } = {};
      if (method === "magnitude") mask = nmMaskFromScores(magnitudeScores(wt), rows, cols, pattern);
      else if (method === "wanda") mask = nmMaskFromScores(wandaScores(wt, rows, cols, st!.sums), rows, cols, pattern);
      else {
        // H = 2·XᵀX/n from the upper triangle
        const scale = 2 / st!.tokens;
        const g = st!.sums;
        if (sgpt) {
          const h = sgpt.h.subarray(0, cols * cols);
          symmetricFromUpper(g, cols, scale, h);
          const r = sparseGptMaskF32(wt, rows, cols, h, { pattern, percDamp: opts.percDamp }, exec, sgpt.ws);
          mask = r.mask;
          extra = { loss: r.loss, deadColumns: r.deadColumns };
        } else {
          const h = new Float64Array(cols * cols);
          symmetricFromUpper(g, cols, scale, h);
          const r = sparseGpt(wt, rows, cols, h, { pattern, update: true, blockSize: opts.blockSize, percDamp: opts.percDamp });
          mask = r.mask;
          wt.set(r.weight!);
          extra = { loss: r.loss, deadColumns: r.deadColumns };
        }
      }
      const zeros = applyMaskCountZeros(wt, mask);
      masks.set(name, mask);
      pruned.set(name, wt);
      reports.push({
        name, shape: [rows, cols], sparsity: zeros / wt.length, nmVerified: verifyNMMask(mask, rows, cols, pattern).ok && zerosMatchMask(wt, mask), relError: null,
        ...(extra.loss !== undefined ? { loss: extra.loss } : {}), ...(extra.deadColumns !== undefined ? { deadColumns: extra.deadColumns } : {}),
        seconds: (performance.now() - t1) / 1000,
      });
      checkAbort(opts.signal);
    }
    stats.clear();

    // the next layer's inputs, through this layer's pruned weights
    if (act && l + 1 < L) {
      progress("propagate", l);
      for (let b = 0; b < windows; b += perBatch) {
        const batch = Math.min(perBatch, windows - b);
        const rows = [b * seq * d, (b + batch) * seq * d] as const;
        forward(act.hs.subarray(...rows), batch, act.next.subarray(...rows));
        checkAbort(opts.signal);
      }
      [act.hs, act.next] = [act.next, act.hs];
    }
    yield { layer: l, weights: pruned, masks };
  }

  return pruneReport({ method, pattern, update }, windows, seq, reports, t0);
}

// The hot loops live in plain functions: V8 optimises an async generator's own body poorly.

function gatherRows(table: Float32Array, windows: readonly Int32Array[], width: number, out: Float32Array): void {
  let row = 0;
  for (const win of windows) for (const id of win) out.set(table.subarray(id * width, (id + 1) * width), width * row++);
}

/** w ⊙ mask in place; returns the zeros of the result. */
function applyMaskCountZeros(w: Float32Array, mask: Uint8Array): number {
  let zeros = 0;
  for (let i = 0; i < w.length; i++) {
    if (!mask[i]) w[i] = 0;
    if (w[i] === 0) zeros++;
  }
  return zeros;
}
