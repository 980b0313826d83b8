// One decoder layer's forward over host arrays, as modeling_llama's LlamaDecoderLayer: the one home of this sequence
// for the host trainer (engine.ts, which keeps what it writes for its backward) and layer-by-layer pruning
// (prune/layer-by-layer.ts, which reads each linear's input for its statistics).
import type { LlamaConfig } from "../llama/config.js";
import type { LINEAR_SUFFIXES } from "../llama/model.js";
import type { RopeValues } from "../kernels/attention-module.js";
import type { Executor } from "./ops.js";
import { checkSlidingWindow } from "../llama/sliding-window.js";

/** A layer's widths: hidden d, query heads·headDim qd, kv heads·headDim kvd, FFN f. */
export function layerDims(c: LlamaConfig): { d: number; qd: number; kvd: number; f: number } {
  return { d: c.hiddenSize, qd: c.numAttentionHeads * c.headDim, kvd: c.numKeyValueHeads * c.headDim, f: c.intermediateSize };
}

export type LinearSuffix = (typeof LINEAR_SUFFIXES)[number];

/** Where the layer writes, each at least tokens × its width; r1/r2 are the norms' per-row scales, lse attention's. */
export interface LayerBuffers {
  xn: Float32Array;
  r1: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  lse: Float32Array;
  /** Qwen3 (config.qkNorm): q and k as projected, before the per-head norm, and the norm's per-(token, head) scales */
  qk?: QkNormBuffers;
  /** x + attention: the MLP's residual */
  a: Float32Array;
  r2: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  h: Float32Array;
  sig: Float32Array;
}

export interface QkNormBuffers {
  qRaw: Float32Array;
  kRaw: Float32Array;
  rq: Float32Array;
  rk: Float32Array;
}

/** Floats of one LayerBuffers for `tokens` tokens (what a memory estimate counts for a batch). */
export function layerBufferFloats(c: LlamaConfig, tokens: number): number {
  const { d, qd, kvd, f } = layerDims(c);
  const qk = c.qkNorm ? qd + kvd + c.numAttentionHeads + c.numKeyValueHeads : 0;
  return tokens * (3 * d + 2 * qd + 2 * kvd + 4 * f + c.numAttentionHeads + 2 + qk);
}

/** The per-head q/k RMSNorm's buffers for `tokens` tokens (undefined: the config has none). */
export function qkNormBuffers(c: LlamaConfig, tokens: number, f32: (n: number) => Float32Array): QkNormBuffers | undefined {
  if (!c.qkNorm) return undefined;
  const { qd, kvd } = layerDims(c);
  return { qRaw: f32(tokens * qd), kRaw: f32(tokens * kvd), rq: f32(tokens * c.numAttentionHeads), rk: f32(tokens * c.numKeyValueHeads) };
}

export interface LayerForward {
  config: LlamaConfig;
  rope: RopeValues;
  inputNorm: Float32Array;
  postNorm: Float32Array;
  /** self_attn.q_norm / k_norm weights [headDim] (config.qkNorm) */
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  /** y = x·Wᵀ (+ bias) for the layer's linear `suffix` (masked or not: the caller's weights) */
  linear: (suffix: LinearSuffix, x: Float32Array, y: Float32Array) => void;
  /** sees the input of the linears that read it ("attn": q/k/v, "o", "mlp": gate/up, "down"), [tokens, width] */
  onLinearInput?: (input: "attn" | "o" | "mlp" | "down", x: Float32Array, width: number) => void;
}

/** x [batch·seq, d] through the layer into `out` (without `out`, down_proj is not run: only its input is formed). */
export function decoderLayerForward(exec: Executor, spec: LayerForward, x: Float32Array, out: Float32Array | undefined, batch: number, seq: number, b: LayerBuffers): void {
  const c = spec.config;
  checkSlidingWindow(c, seq);
  const T = batch * seq;
  const { d, qd, kvd, f } = layerDims(c);
  const cut = (a: Float32Array, width: number) => a.subarray(0, T * width);
  const eps = c.rmsNormEps;
  const xn = cut(b.xn, d);
  exec.run({ kind: "rmsNorm", x, w: spec.inputNorm, y: xn, r: b.r1.subarray(0, T), rows: T, n: d, eps });
  spec.onLinearInput?.("attn", xn, d);
  if (c.qkNorm) {
    // Qwen3: RMSNorm over each head of q and k (rows = tokens·heads, n = headDim), before RoPE
    const qk = b.qk!;
    const hd = c.headDim;
    spec.linear("self_attn.q_proj", xn, cut(qk.qRaw, qd));
    spec.linear("self_attn.k_proj", xn, cut(qk.kRaw, kvd));
    exec.run({ kind: "rmsNorm", x: cut(qk.qRaw, qd), w: spec.qNorm!, y: cut(b.q, qd), r: qk.rq.subarray(0, T * c.numAttentionHeads), rows: T * c.numAttentionHeads, n: hd, eps });
    exec.run({ kind: "rmsNorm", x: cut(qk.kRaw, kvd), w: spec.kNorm!, y: cut(b.k, kvd), r: qk.rk.subarray(0, T * c.numKeyValueHeads), rows: T * c.numKeyValueHeads, n: hd, eps });
  } else {
    spec.linear("self_attn.q_proj", xn, cut(b.q, qd));
    spec.linear("self_attn.k_proj", xn, cut(b.k, kvd));
  }
  spec.linear("self_attn.v_proj", xn, cut(b.v, kvd));
  const o = cut(b.o, qd);
  const shape = { batch, seq, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim };
  exec.run({ kind: "attention", shape, q: cut(b.q, qd), k: cut(b.k, kvd), v: cut(b.v, kvd), rope: spec.rope, o, lse: b.lse.subarray(0, T * c.numAttentionHeads) });
  spec.onLinearInput?.("o", o, qd);
  const a = cut(b.a, d);
  spec.linear("self_attn.o_proj", o, a);
  addInto(a, x);
  exec.run({ kind: "rmsNorm", x: a, w: spec.postNorm, y: xn, r: b.r2.subarray(0, T), rows: T, n: d, eps });
  spec.onLinearInput?.("mlp", xn, d);
  spec.linear("mlp.gate_proj", xn, cut(b.gate, f));
  spec.linear("mlp.up_proj", xn, cut(b.up, f));
  const h = cut(b.h, f);
  exec.run({ kind: "swiglu", g: cut(b.gate, f), u: cut(b.up, f), h, s: cut(b.sig, f) });
  spec.onLinearInput?.("down", h, f);
  if (!out) return;
  spec.linear("mlp.down_proj", h, out);
  addInto(out, a);
}

function addInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}
