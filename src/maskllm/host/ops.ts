// Long file: the host trainer's op set in one place, what each op is and how it splits and runs. The ops: plain data
// over typed arrays, each cut into parts along an axis whose parts are independent (tokens, output rows, windows), so a
// part's values are the same whichever thread computes it and however many parts there are: a run's mask does not
// depend on the thread count. runPart() is what every thread (the loop's and the pool's, src/parallel/op-pool.ts)
// executes.
import { attentionBackward, attentionForward, type AttentionShape, type RopeValues } from "../kernels/attention-module.js";
import { rmsNormBackward, rmsNormForward, swigluBackward, swigluForward } from "../kernels/layers-module.js";
import { linearForward, linearInputGrad, lmHeadLoss, maskedWeightGradRows, softLinearForward, softLinearInputGrad, type SoftMask } from "../kernels/matmul-module.js";
import { accumulateCandidateGrad, adamwUpdate, candidateLogitsGrad, sampleMasks, softMask } from "../kernels/mask-step-module.js";
import { gumbelNoiseInto } from "../kernels/gumbel-module.js";
import { argmaxChanges } from "../train/argmax.js";
import { linearKernels } from "./linear-kernels.js";

export type HostOp =
  /**
   * y [tokens, out] = x·(w ⊙ M̃)ᵀ (+ bias), M̃ given (mask) or formed from ỹ while packing (soft), or B as packWeight
   * left it in packed (native kernels); parts: tokens
   */
  | { kind: "linear"; x: Float32Array; w: Float32Array; mask?: Float32Array; soft?: SoftMask; packed?: Float32Array; bias?: Float32Array; y: Float32Array; tokens: number; inDim: number; outDim: number }
  /** dx [tokens, in] (+)= dy·(w ⊙ M̃), likewise; parts: tokens */
  | { kind: "linearInputGrad"; dy: Float32Array; w: Float32Array; mask?: Float32Array; soft?: SoftMask; packed?: Float32Array; dx: Float32Array; accumulate: boolean; tokens: number; inDim: number; outDim: number }
  /** the B of linear (forward) or linearInputGrad as the native kernels pack it, into packed; parts: W's output rows */
  | { kind: "packWeight"; forward: boolean; w: Float32Array; mask?: Float32Array; soft?: SoftMask; packed: Float32Array; inDim: number; outDim: number }
  /** ∂ỹ of one masked linear [out·in/m, c] += ((dyᵀ·x) ⊙ w)·Sᵀ; parts: output rows */
  | { kind: "maskGrad"; x: Float32Array; dy: Float32Array; w: Float32Array; s: Float32Array; dProbs: Float32Array; tokens: number; inDim: number; outDim: number; c: number; m: number }
  /** M̃ [groups, m] from ỹ [groups, c]; parts: groups */
  | { kind: "softMask"; probs: Float32Array; s: Float32Array; masks: Float32Array; hard: boolean; groups: number; c: number; m: number }
  /** y = RMSNorm(x), r per row; parts: rows */
  | { kind: "rmsNorm"; x: Float32Array; w: Float32Array; y: Float32Array; r: Float32Array; rows: number; n: number; eps: number }
  /** dx (+)= ∂RMSNorm/∂x · dy; parts: rows */
  | { kind: "rmsNormBackward"; x: Float32Array; w: Float32Array; r: Float32Array; dy: Float32Array; dx: Float32Array; accumulate: boolean; rows: number; n: number }
  /** h = silu(g)⊙u, s = σ(g); parts: elements */
  | { kind: "swiglu"; g: Float32Array; u: Float32Array; h: Float32Array; s: Float32Array }
  | { kind: "swigluBackward"; g: Float32Array; u: Float32Array; s: Float32Array; dh: Float32Array; dg: Float32Array; du: Float32Array }
  /** causal GQA with RoPE; parts: windows */
  | { kind: "attention"; shape: AttentionShape; q: Float32Array; k: Float32Array; v: Float32Array; rope: RopeValues; o: Float32Array; lse: Float32Array }
  | { kind: "attentionBackward"; shape: AttentionShape; q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array; lse: Float32Array; dO: Float32Array; rope: RopeValues; dq: Float32Array; dk: Float32Array; dv: Float32Array }
  /**
   * lm_head + next-token loss + their backward, per window: totals[window] = Σ weight·nll, dx = ∂(Σ scale·nll)/∂x;
   * the logits exist one window (native kernels: a block of rows) at a time; packed: w as the native kernels'
   * packTransposed panels, made once for a run; parts: windows
   */
  | { kind: "headLoss"; x: Float32Array; w: Float32Array; packed?: Float32Array; targets: Int32Array; weights: Float32Array; scale: Float32Array; dx: Float32Array; totals: Float64Array; windows: number; seq: number; d: number; vocab: number }
  /**
   * The step's ỹ of each target (ranges of `groups` rows from `offsets`): Gumbel noise from its seed, divided by τ,
   * then softmax(scale·π + noise); and the target's rows of ∂ỹ zeroed for the step's sums; parts: targets
   * (i ≡ part mod parts)
   */
  | { kind: "sample"; logits: Float32Array; probs: Float32Array; dProbs: Float32Array; offsets: number[]; groups: number[]; seeds: number[]; invTau: number; scale: number; hard: boolean; s: Float32Array; c: number; m: number }
  /** ∂π in place over ∂ỹ per target with the regulariser (w: the targets' weights); stats[3i..3i+2] of target i; parts: targets */
  | { kind: "logitsGrad"; probs: Float32Array; dProbs: Float32Array; w: Float32Array[]; stats: Float64Array; offsets: number[]; groups: number[]; scale: number; twoLambda: number; hard: boolean; s: Float32Array; c: number; m: number }
  /**
   * How many groups' argmax candidate (first on ties) differs from prev, prev updated (train/argmax.ts's
   * argmaxChanges, a pass over every logit); counts[part] gets each part's count (zero counts first, sum them all)
   * parts: groups
   */
  | { kind: "argmaxChanges"; logits: Float32Array; c: number; prev: Uint16Array; counts: Float64Array }
  /** AdamW on every logit from grad·coef; parts: elements */
  | { kind: "adamw"; logits: Float32Array; mom: Float32Array; vel: Float32Array; grad: Float32Array; coef: number; beta1: number; beta2: number; eps: number; decay: number; stepSize: number; invSqrtBc2: number };

/** The part'th of `parts` near-equal slices of 0..n, as [start, end). */
export function partRange(n: number, part: number, parts: number): [number, number] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const start = part * base + Math.min(part, extra);
  return [start, start + base + (part < extra ? 1 : 0)];
}

/** Rough work of an op in flops, for deciding whether splitting it across threads pays. */
export function opWork(op: HostOp): number {
  switch (op.kind) {
    case "linear":
    case "linearInputGrad":
    case "maskGrad":
      return 2 * op.tokens * op.inDim * op.outDim;
    case "packWeight":
      // ~2 ns a weight (forming M̃, writing panels): worth splitting from ~100K weights
      return 40 * op.inDim * op.outDim;
    case "attention":
    case "attentionBackward":
      return 4 * op.shape.batch * op.shape.seq * op.shape.seq * op.shape.heads * op.shape.headDim;
    case "headLoss":
      return 4 * op.windows * op.seq * op.vocab * op.d;
    case "softMask":
      return op.groups * op.c * op.m * 2;
    case "sample":
    case "logitsGrad":
      return op.probs.length * 40;
    case "adamw":
      return op.grad.length * 12;
    case "argmaxChanges":
      return op.logits.length * 4;
    case "rmsNorm":
    case "rmsNormBackward":
      // memory-bound over rows another thread just wrote: split in two, it ran slower than whole (42M shape)
      return 2 * op.rows * op.n;
    case "swiglu":
    case "swigluBackward":
      return 20 * op.g.length;
  }
}

// elementwise work goes to the kernels in slices of this many floats, so their memory stays small
const CHUNK_FLOATS = 1 << 20;

const rowsOf = (a: Float32Array, r0: number, r1: number, width: number) => a.subarray(r0 * width, r1 * width);

function addInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

// A thread's scratch, grown to the largest call seen and reused: the mask step's per-target arrays, a part's rows of
// a layer's mask gradient, RMSNorm's backward before it is added. Nothing of the step's size is allocated per op.
const scratch = { a: new Float32Array(0), b: new Float32Array(0) };
function scratchOf(n: number, which: "a" | "b" = "a"): Float32Array {
  if (scratch[which].length < n) scratch[which] = new Float32Array(n);
  return scratch[which].subarray(0, n);
}

/** Executes part `part` of `parts` of op. */
export function runPart(op: HostOp, part: number, parts: number): void {
  switch (op.kind) {
    case "sample": {
      const { c, m } = op;
      const nk = linearKernels();
      for (let i = part; i < op.groups.length; i += parts) {
        const g = op.groups[i];
        const rows = (a: Float32Array, w: number) => a.subarray(op.offsets[i] * w, (op.offsets[i] + g) * w);
        rows(op.dProbs, c).fill(0);
        // the noise drawn as it is used; M̃ is not kept (layers rebuild it from ỹ), so only ỹ is made
        if (nk?.sampleProbs) {
          nk.sampleProbs(rows(op.logits, c), rows(op.probs, c), g, c, op.seeds[i] >>> 0, op.invTau, op.scale);
          continue;
        }
        const buf = scratchOf(g * (c + m));
        const noise = buf.subarray(0, g * c);
        gumbelNoiseInto(noise, op.seeds[i], op.invTau);
        sampleMasks({ groups: g, candidates: c, m, s: op.s }, rows(op.logits, c), noise, op.scale, op.hard, rows(op.probs, c), buf.subarray(g * c));
      }
      return;
    }
    case "logitsGrad": {
      const { c, m } = op;
      const nk = linearKernels();
      for (let i = part; i < op.groups.length; i += parts) {
        const g = op.groups[i];
        const rows = (a: Float32Array) => a.subarray(op.offsets[i] * c, (op.offsets[i] + g) * c);
        if (nk?.candidateLogitsGrad) {
          nk.candidateLogitsGrad(rows(op.probs), rows(op.dProbs), op.w[i], op.s, g, c, m, op.scale, op.twoLambda, op.hard, op.stats.subarray(3 * i, 3 * i + 3));
          continue;
        }
        const l = { groups: g, candidates: c, m, s: op.s };
        const masks = scratchOf(g * m);
        softMask(l, rows(op.probs), op.hard, masks);
        const r = candidateLogitsGrad(l, rows(op.probs), rows(op.dProbs), op.w[i], masks, op.scale, op.twoLambda);
        op.stats.set([r.reg, r.maxProbSum, r.sq], 3 * i);
      }
      return;
    }
    case "adamw": {
      const [e0, e1] = partRange(op.grad.length, part, parts);
      const nk = linearKernels();
      if (nk?.adamw) {
        const cut = (x: Float32Array) => x.subarray(e0, e1);
        nk.adamw(cut(op.logits), cut(op.mom), cut(op.vel), cut(op.grad), op.coef, op.beta1, op.beta2, op.eps, op.decay, op.stepSize, op.invSqrtBc2);
        return;
      }
      // in slices: each call copies four arrays into the kernel's memory, which keeps its largest size
      for (let a = e0; a < e1; a += CHUNK_FLOATS) {
        const cut = (x: Float32Array) => x.subarray(a, Math.min(e1, a + CHUNK_FLOATS));
        adamwUpdate({ logits: cut(op.logits), m: cut(op.mom), v: cut(op.vel) }, cut(op.grad), op.coef, op);
      }
      return;
    }
    case "linear": {
      const [t0, t1] = partRange(op.tokens, part, parts);
      if (t0 === t1) return;
      const y = rowsOf(op.y, t0, t1, op.outDim);
      const nk = linearKernels();
      if (op.packed) nk!.linearPacked!(true, rowsOf(op.x, t0, t1, op.inDim), op.packed, t1 - t0, op.inDim, op.outDim, y, false);
      else if (nk) nk.linear(true, rowsOf(op.x, t0, t1, op.inDim), op.w, op.mask ?? null, op.soft?.probs ?? null, op.soft?.s ?? null, op.soft?.m ?? 0, t1 - t0, op.inDim, op.outDim, y, false);
      else if (op.soft) softLinearForward(rowsOf(op.x, t0, t1, op.inDim), op.w, op.soft, t1 - t0, op.inDim, op.outDim, y);
      else linearForward(rowsOf(op.x, t0, t1, op.inDim), op.w, op.mask, t1 - t0, op.inDim, op.outDim, y);
      if (op.bias) for (let t = 0; t < t1 - t0; t++) for (let o = 0, at = t * op.outDim; o < op.outDim; o++) y[at + o] += op.bias[o];
      return;
    }
    case "linearInputGrad": {
      const [t0, t1] = partRange(op.tokens, part, parts);
      if (t0 === t1) return;
      const nk = linearKernels();
      if (op.packed) nk!.linearPacked!(false, rowsOf(op.dy, t0, t1, op.outDim), op.packed, t1 - t0, op.inDim, op.outDim, rowsOf(op.dx, t0, t1, op.inDim), op.accumulate);
      else if (nk) nk.linear(false, rowsOf(op.dy, t0, t1, op.outDim), op.w, op.mask ?? null, op.soft?.probs ?? null, op.soft?.s ?? null, op.soft?.m ?? 0, t1 - t0, op.inDim, op.outDim, rowsOf(op.dx, t0, t1, op.inDim), op.accumulate);
      else if (op.soft) softLinearInputGrad(rowsOf(op.dy, t0, t1, op.outDim), op.w, op.soft, t1 - t0, op.inDim, op.outDim, rowsOf(op.dx, t0, t1, op.inDim), op.accumulate);
      else linearInputGrad(rowsOf(op.dy, t0, t1, op.outDim), op.w, op.mask, t1 - t0, op.inDim, op.outDim, rowsOf(op.dx, t0, t1, op.inDim), op.accumulate);
      return;
    }
    case "argmaxChanges": {
      const [g0, g1] = partRange(op.prev.length, part, parts);
      op.counts[part] = argmaxChanges(op.logits.subarray(g0 * op.c, g1 * op.c), op.c, op.prev.subarray(g0, g1));
      return;
    }
    case "packWeight": {
      const [q0, q1] = partRange(op.outDim, part, parts);
      linearKernels()!.packWeight!(op.forward, op.w, op.mask ?? null, op.soft?.probs ?? null, op.soft?.s ?? null, op.soft?.m ?? 0, op.inDim, op.outDim, op.packed, q0, q1);
      return;
    }
    case "maskGrad": {
      const [r0, r1] = partRange(op.outDim, part, parts);
      if (r0 === r1) return;
      const g = scratchOf((r1 - r0) * op.inDim);
      const nk = linearKernels();
      (nk ?? { maskedWeightGradRows }).maskedWeightGradRows(op.x, op.dy, op.w, op.tokens, op.inDim, op.outDim, r0, r1, g);
      const perRow = op.inDim / op.m;
      const dProbs = op.dProbs.subarray(r0 * perRow * op.c, r1 * perRow * op.c);
      if (nk?.candidateGrad) nk.candidateGrad(g, op.s, dProbs, (r1 - r0) * perRow, op.c, op.m);
      else accumulateCandidateGrad({ groups: (r1 - r0) * perRow, candidates: op.c, m: op.m, s: op.s }, g, dProbs);
      return;
    }
    case "softMask": {
      const [g0, g1] = partRange(op.groups, part, parts);
      if (g0 === g1) return;
      const nk = linearKernels();
      if (nk?.softMask) nk.softMask(rowsOf(op.probs, g0, g1, op.c), op.s, rowsOf(op.masks, g0, g1, op.m), g1 - g0, op.c, op.m, op.hard);
      else softMask({ groups: g1 - g0, candidates: op.c, m: op.m, s: op.s }, rowsOf(op.probs, g0, g1, op.c), op.hard, rowsOf(op.masks, g0, g1, op.m));
      return;
    }
    case "rmsNorm": {
      const [r0, r1] = partRange(op.rows, part, parts);
      if (r0 === r1) return;
      rmsNormForward(rowsOf(op.x, r0, r1, op.n), op.w, r1 - r0, op.n, op.eps, rowsOf(op.y, r0, r1, op.n), op.r.subarray(r0, r1));
      return;
    }
    case "rmsNormBackward": {
      const [r0, r1] = partRange(op.rows, part, parts);
      if (r0 === r1) return;
      const dx = rowsOf(op.dx, r0, r1, op.n);
      const out = op.accumulate ? scratchOf(dx.length) : dx;
      // dw (the norm's weight is frozen) goes to scratch too
      rmsNormBackward(rowsOf(op.x, r0, r1, op.n), op.w, op.r.subarray(r0, r1), rowsOf(op.dy, r0, r1, op.n), r1 - r0, op.n, out, scratchOf(op.n, "b"));
      if (op.accumulate) addInto(dx, out);
      return;
    }
    case "swiglu": {
      const [e0, e1] = partRange(op.g.length, part, parts);
      if (e0 === e1) return;
      swigluForward(op.g.subarray(e0, e1), op.u.subarray(e0, e1), op.h.subarray(e0, e1), op.s.subarray(e0, e1));
      return;
    }
    case "swigluBackward": {
      const [e0, e1] = partRange(op.g.length, part, parts);
      if (e0 === e1) return;
      swigluBackward(op.g.subarray(e0, e1), op.u.subarray(e0, e1), op.s.subarray(e0, e1), op.dh.subarray(e0, e1), op.dg.subarray(e0, e1), op.du.subarray(e0, e1));
      return;
    }
    case "attention": {
      const s = op.shape;
      const [b0, b1] = partRange(s.batch, part, parts);
      if (b0 === b1) return;
      const rows = (a: Float32Array, heads: number) => a.subarray(b0 * s.seq * heads * s.headDim, b1 * s.seq * heads * s.headDim);
      const shape = { ...s, batch: b1 - b0 };
      const args = [shape, rows(op.q, s.heads), rows(op.k, s.kvHeads), rows(op.v, s.kvHeads), op.rope, rows(op.o, s.heads), op.lse.subarray(b0 * s.heads * s.seq, b1 * s.heads * s.seq)] as const;
      const nk = linearKernels();
      if (nk?.attentionForward) nk.attentionForward(...args);
      else attentionForward(...args);
      return;
    }
    case "attentionBackward": {
      const s = op.shape;
      const [b0, b1] = partRange(s.batch, part, parts);
      if (b0 === b1) return;
      const rows = (a: Float32Array, heads: number) => a.subarray(b0 * s.seq * heads * s.headDim, b1 * s.seq * heads * s.headDim);
      const shape = { ...s, batch: b1 - b0 };
      const args = [
        shape,
        rows(op.q, s.heads),
        rows(op.k, s.kvHeads),
        rows(op.v, s.kvHeads),
        rows(op.o, s.heads),
        op.lse.subarray(b0 * s.heads * s.seq, b1 * s.heads * s.seq),
        rows(op.dO, s.heads),
        op.rope,
        rows(op.dq, s.heads),
        rows(op.dk, s.kvHeads),
        rows(op.dv, s.kvHeads),
      ] as const;
      const nk = linearKernels();
      if (nk?.attentionBackward) nk.attentionBackward(...args);
      else attentionBackward(...args);
      return;
    }
    case "headLoss": {
      const [w0, w1] = partRange(op.windows, part, parts);
      if (w0 === w1) return;
      const r0 = w0 * op.seq;
      const r1 = w1 * op.seq;
      const nk = linearKernels();
      const x = rowsOf(op.x, r0, r1, op.d);
      const rest = [op.targets.subarray(r0, r1), op.weights.subarray(r0, r1), op.scale.subarray(r0, r1), w1 - w0, op.seq, op.d, op.vocab, rowsOf(op.dx, r0, r1, op.d), op.totals.subarray(w0, w1)] as const;
      if (nk?.headLoss && op.packed) nk.headLoss(x, op.w, op.packed, ...rest);
      else lmHeadLoss(x, op.w, ...rest);
      return;
    }
  }
}

/** Runs ops, split over threads or not; buffers from it are visible to all of its threads. */
export interface Executor {
  /** threads an op can be split over (the caller's included) */
  readonly threads: number;
  f32(n: number): Float32Array;
  i32(n: number): Int32Array;
  f64(n: number): Float64Array;
  /** whether a buffer made elsewhere is visible to every thread as it is */
  shares(a: ArrayBufferView): boolean;
  /** runs op to completion (synchronously), its parts on the executor's threads */
  run(op: HostOp): void;
}

/** Everything on the caller's thread. */
export class InlineExecutor implements Executor {
  readonly threads = 1;
  f32(n: number): Float32Array {
    return new Float32Array(n);
  }
  i32(n: number): Int32Array {
    return new Int32Array(n);
  }
  f64(n: number): Float64Array {
    return new Float64Array(n);
  }
  shares(): boolean {
    return true;
  }
  run(op: HostOp): void {
    runPart(op, 0, 1);
  }
}
