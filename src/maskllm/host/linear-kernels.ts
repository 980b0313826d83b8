// Where a faster implementation of the linear products (and optionally the attention) can be plugged into the host
// trainer from outside the pure core (src/native registers its AVX-512/AVX2 addon here); without one, runPart
// (ops.ts) uses the wasm kernels.
// The choice is per thread and must be the same on every thread of a run: an op's parts then sum in one order,
// so the thread count still never changes a result (src/parallel/op-pool.ts checks its threads agree).
import type { AttentionShape, RopeValues } from "../kernels/attention-module.js";
import { crossEntropyBackward, crossEntropyForward } from "../kernels/loss-module.js";

/** The linear products, over the callers' own arrays (no copies), with M the mask: none, given, or soft. */
export interface LinearKernels {
  /** which implementation, for logs ("avx512", "avx2") */
  isa(): string;
  /**
   * forward: out [tokens, out] (+)= a [tokens, in]·(w ⊙ M)ᵀ; else out [tokens, in] (+)= a [tokens, out]·(w ⊙ M);
   * M from mask [out, in], or formed from probs (ỹ [out·in/m, c]) and s ([c, m]) as the wasm kernels do, or none
   */
  linear(forward: boolean, a: Float32Array, w: Float32Array, mask: Float32Array | null, probs: Float32Array | null, s: Float32Array | null, m: number, tokens: number, inDim: number, outDim: number, out: Float32Array, accumulate: boolean): void;
  /** g [r1 − r0, in] = (dy[:, r0:r1]ᵀ·x) ⊙ w[r0:r1] for x [tokens, in], dy [tokens, out], w [out, in] */
  maskedWeightGradRows(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, r0: number, r1: number, g: Float32Array): void;
  /**
   * Causal GQA attention with RoPE, as attention-module.ts's attentionForward (same arguments, layouts and checks):
   * o and lse of q, k, v. Optional: without it runPart keeps the wasm kernel. Each window must be computed on its
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

// a thread's logits and lse of one window, grown to the largest seen
let logitsScratch = new Float32Array(0);

/**
 * The headLoss op (ops.ts) on k's products, window by window as the wasm kernel does: logits = x·Wᵀ, the loss
 * kernels' cross-entropy (totals[i] = Σ weight·nll, the logits' gradient in place), then dx = dlogits·W.
 */
export function headLossWith(k: LinearKernels, x: Float32Array, w: Float32Array, targets: Int32Array, rowWeights: Float32Array, rowScale: Float32Array, windows: number, seq: number, d: number, v: number, dx: Float32Array, totals: Float64Array): void {
  const rows = windows * seq;
  if (targets.length !== rows || totals.length < windows || rowWeights.length !== rows || rowScale.length !== rows) throw new RangeError(`lmHeadLoss: ${targets.length} targets and ${totals.length} totals for ${windows} windows of ${seq}`);
  if (logitsScratch.length < seq * (v + 1)) logitsScratch = new Float32Array(seq * (v + 1));
  const logits = logitsScratch.subarray(0, seq * v);
  const lse = logitsScratch.subarray(seq * v, seq * (v + 1));
  for (let i = 0; i < windows; i++) {
    const [r0, r1] = [i * seq, (i + 1) * seq];
    k.linear(true, x.subarray(r0 * d, r1 * d), w, null, null, null, 0, seq, d, v, logits, false);
    totals[i] = crossEntropyForward(logits, targets.subarray(r0, r1), rowWeights.subarray(r0, r1), seq, v, lse);
    crossEntropyBackward(logits, targets.subarray(r0, r1), rowScale.subarray(r0, r1), lse, seq, v, logits);
    k.linear(false, logits, w, null, null, null, 0, seq, d, v, dx.subarray(r0 * d, r1 * d), false);
  }
}
