// Where faster implementations of the host trainer's kernels can be plugged in from outside the pure core
// (src/native registers its AVX-512/AVX2 addon here): the linear products, and optionally the lm_head loss, the
// causal attention, the elementwise layers and the per-step mask math; without them, runRange (ops.ts) uses the
// wasm kernels.
// The choice is per thread and must be the same on every thread of a run: an op's parts then sum in one order,
// so the thread count still never changes a result (src/parallel/op-pool.ts checks its threads agree).
import type { AttentionShape, RopeValues } from "../kernels/attention-module.js";

/** The linear products, over the callers' own arrays (no copies), with M the mask: none, given, or soft. */
export interface LinearKernels {
  /** which implementation, for logs ("avx512", "avx2") */
  isa(): string;
  /**
   * forward: out [tokens, out] (+)= a [tokens, in]·(w ⊙ M)ᵀ; else out [tokens, in] (+)= a [tokens, out]·(w ⊙ M);
   * M from mask [out, in], or formed from probs (ỹ [out·in/m, c]) and s ([c, m]) as the wasm kernels do, or none
   */
  linear(forward: boolean, a: Float32Array, w: Float32Array, mask: Float32Array | null, probs: Float32Array | null, s: Float32Array | null, m: number, tokens: number, inDim: number, outDim: number, out: Float32Array, accumulate: boolean): void;
  /**
   * linear's B packed once and shared, so threads that split a product by tokens do not each pack all of it:
   * packWeight fills the part of B that W's output rows o0..o1 make (forward: B's columns, else its rows; a
   * partition of 0..out fills the buffer, packedFloats(k, n) floats for k × n = in × out forward, out × in else),
   * and linearPacked is linear with that B
   */
  packWeight?(forward: boolean, w: Float32Array, mask: Float32Array | null, probs: Float32Array | null, s: Float32Array | null, m: number, inDim: number, outDim: number, packed: Float32Array, o0: number, o1: number): void;
  linearPacked?(forward: boolean, a: Float32Array, packed: Float32Array, tokens: number, inDim: number, outDim: number, out: Float32Array, accumulate: boolean): void;
  /** g [r1 − r0, in] = (dy[:, r0:r1]ᵀ·x) ⊙ w[r0:r1] for x [tokens, in], dy [tokens, out], w [out, in] */
  maskedWeightGradRows(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, r0: number, r1: number, g: Float32Array): void;
  /**
   * The frozen lm_head W [n, k] as B = Wᵀ, packed once for a run into a buffer every thread reads: its length
   * (it depends on the kernels' tile), and the packing.
   */
  packedFloats?(k: number, n: number): number;
  packTransposed?(w: Float32Array, k: number, n: number, out: Float32Array): void;
  /**
   * The headLoss op (ops.ts; the wasm lmHeadLoss's contract) from W and its packTransposed(w, d, v) panels, the
   * logits of a block of rows alive at a time
   */
  headLoss?(x: Float32Array, w: Float32Array, packedWt: Float32Array, targets: Int32Array, rowWeights: Float32Array, rowScale: Float32Array, windows: number, seq: number, d: number, v: number, dx: Float32Array, totals: Float64Array): void;

  // The per-step mask math (mask-step-module.ts, gumbel-module.ts) in place on the callers' arrays; each, where
  // present, gives the wasm kernel's bits (an addon that cannot should leave it out). Groups: ỹ/∂ỹ/π [groups, c],
  // M̃/∂M̃/w [groups, m], S [c, m].
  /** out[i] = scale·(−log(−log uᵢ)) for the uniforms of mulberry32(seed): gumbelNoiseInto */
  gumbelNoise?(out: Float32Array, seed: number, scale: number): void;
  /** probs = softmax(scale·logits + invTau·gumbelNoise(seed)) per group: gumbelNoiseInto then sampleMasks' ỹ, in one pass */
  sampleProbs?(logits: Float32Array, probs: Float32Array, groups: number, c: number, seed: number, invTau: number, scale: number): void;
  /** masks = probs·S (hard: the argmax candidate's row of S): softMask */
  softMask?(probs: Float32Array, s: Float32Array, masks: Float32Array, groups: number, c: number, m: number, hard: boolean): void;
  /** dProbs += dMasks·Sᵀ: accumulateCandidateGrad */
  candidateGrad?(dMasks: Float32Array, s: Float32Array, dProbs: Float32Array, groups: number, c: number, m: number): void;
  /**
   * softMask then candidateLogitsGrad in one pass (M̃ never stored): ∂π in place over dProbs, and stats (3 values) =
   * its reg, maxProbSum and sq
   */
  candidateLogitsGrad?(probs: Float32Array, dProbs: Float32Array, w: Float32Array, s: Float32Array, groups: number, c: number, m: number, scale: number, twoLambda: number, hard: boolean, stats: Float64Array): void;
  /** train/logits.ts's argmaxChanges: groups whose argmax candidate (first on ties) differs from prev, prev updated */
  argmaxChanges?(logits: Float32Array, c: number, prev: Uint16Array): number;
  /** adamwUpdate in place over the whole arrays */
  adamw?(logits: Float32Array, mom: Float32Array, vel: Float32Array, grad: Float32Array, coef: number, beta1: number, beta2: number, eps: number, decay: number, stepSize: number, invSqrtBc2: number): void;
  // The block's elementwise layers (layers-module.ts) in place on the callers' arrays, each giving the wasm kernel's
  // bits: x, y, dy, dx [rows, n], w and r as there; the norm's weight is frozen, so no dw.
  /** y = RMSNorm(x)·w, r = 1/√(mean(x²) + eps) per row: rmsNormForward */
  rmsNorm?(x: Float32Array, w: Float32Array, y: Float32Array, r: Float32Array, rows: number, n: number, eps: number): void;
  /** dx (accumulate: +=) of rmsNormForward given dy: rmsNormBackward's dx */
  rmsNormBackward?(x: Float32Array, w: Float32Array, r: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, n: number, accumulate: boolean): void;
  /** h = silu(g)⊙u, s = σ(g): swigluForward */
  swiglu?(g: Float32Array, u: Float32Array, h: Float32Array, s: Float32Array): void;
  /** dg, du from s: swigluBackward */
  swigluBackward?(g: Float32Array, u: Float32Array, s: Float32Array, dh: Float32Array, dg: Float32Array, du: Float32Array): void;
  /**
   * Causal GQA attention with RoPE, as attention-module.ts's attentionForward (same arguments, layouts and checks):
   * o and lse of q, k, v. Optional: without it runRange keeps the wasm kernel. Each window must be computed on its
   * own, so a result does not depend on which windows a call covers.
   */
  attentionForward?(s: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, rope: RopeValues, o: Float32Array, lse: Float32Array): void;
  /** dq, dk, dv of attentionForward, as attention-module.ts's attentionBackward; optional, window by window likewise */
  attentionBackward?(s: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, o: Float32Array, lse: Float32Array, dO: Float32Array, rope: RopeValues, dq: Float32Array, dk: Float32Array, dv: Float32Array): void;
}

let current: LinearKernels | undefined;

/** Plugs k in for this thread's linear products (undefined: back to wasm). */
export function setLinearKernels(k: LinearKernels | undefined): void {
  current = k;
}

/** This thread's linear products, if any were plugged in. */
export function linearKernels(): LinearKernels | undefined {
  return current;
}
