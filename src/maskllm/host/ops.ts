// Long file: the host trainer's op set in one place, what each op is and how it splits and runs. The ops: plain data
// over typed arrays, each split along an axis whose items are independent (tokens, output rows, windows: splitAxis),
// so a range's values are the same whichever thread computes it and however the items are cut: a run's mask does not
// depend on the thread count. runRange() is what every thread (the loop's and the pool's, src/parallel/op-pool.ts)
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
   * argmaxChanges, a pass over every logit), added to changes[0] (zero it first); parts: groups
   */
  | { kind: "argmaxChanges"; logits: Float32Array; c: number; prev: Uint16Array; changes: Int32Array }
  /** AdamW on every logit from grad·coef; parts: elements */
  | { kind: "adamw"; logits: Float32Array; mom: Float32Array; vel: Float32Array; grad: Float32Array; coef: number; beta1: number; beta2: number; eps: number; decay: number; stepSize: number; invSqrtBc2: number };

export const MAX_ATOMS = 0xffff;

/**
 * The axis an op is split along (its items: tokens, rows, columns, windows, targets, elements) and its atom:
 * the fewest items a thread takes at once, sized so that a piece stays efficient (whole register tiles and packed
 * panels for the products, whole groups of logits).
 */
export function splitAxis(op: HostOp): { items: number; atom: number } {
  const [items, atom] = ((): [number, number] => {
    switch (op.kind) {
      case "linear":
      case "linearInputGrad":
        return [op.tokens, 24];
      case "maskGrad":
        return [op.outDim, 24];
      case "packWeight":
        // W's output rows: whole panels of B's columns forward, B's rows in the input gradient
        return [op.outDim, 64];
      case "softMask":
        return [op.groups, 4096];
      case "rmsNorm":
      case "rmsNormBackward":
        return [op.rows, 16];
      case "swiglu":
      case "swigluBackward":
        return [op.g.length, 1 << 14];
      case "adamw":
        return [op.grad.length, 1 << 14];
      case "argmaxChanges":
        return [op.prev.length, 1 << 13];
      case "attention":
      case "attentionBackward":
        return [op.shape.batch, 1];
      case "headLoss":
        return [op.windows, 1];
      case "sample":
      case "logitsGrad":
        return [op.groups.length, 1];
    }
  })();
  // at most MAX_ATOMS atoms (the threads' claims count them in 16 bits)
  return { items, atom: Math.max(atom, Math.ceil(items / MAX_ATOMS / atom) * atom) };
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
      // one pass over rows another thread just wrote, memory-bound: split in two it ran no faster (42M shape)
      return 2 * op.rows * op.n;
    case "rmsNormBackward":
      // more arithmetic a row (and dx added to): split, 1.35x faster at the 42M shape
      return 20 * op.rows * op.n;
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

/** Executes items i0..i1 of op along splitAxis (any partition of the items gives the same values). */
export function runRange(op: HostOp, i0: number, i1: number): void {
  if (i0 >= i1) return;
  switch (op.kind) {
    case "sample": {
      const { c, m } = op;
      const nk = linearKernels();
      for (let i = i0; i < i1; i++) {
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
      for (let i = i0; i < i1; i++) {
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
      const nk = linearKernels();
      if (nk?.adamw) {
        const cut = (x: Float32Array) => x.subarray(i0, i1);
        nk.adamw(cut(op.logits), cut(op.mom), cut(op.vel), cut(op.grad), op.coef, op.beta1, op.beta2, op.eps, op.decay, op.stepSize, op.invSqrtBc2);
        return;
      }
      // in slices: each call copies four arrays into the kernel's memory, which keeps its largest size
      for (let a = i0; a < i1; a += CHUNK_FLOATS) {
        const cut = (x: Float32Array) => x.subarray(a, Math.min(i1, a + CHUNK_FLOATS));
        adamwUpdate({ logits: cut(op.logits), m: cut(op.mom), v: cut(op.vel) }, cut(op.grad), op.coef, op);
      }
      return;
    }
    case "linear": {
      const y = rowsOf(op.y, i0, i1, op.outDim);
      const nk = linearKernels();
      if (op.packed) nk!.linearPacked!(true, rowsOf(op.x, i0, i1, op.inDim), op.packed, i1 - i0, op.inDim, op.outDim, y, false);
      else if (nk) nk.linear(true, rowsOf(op.x, i0, i1, op.inDim), op.w, op.mask ?? null, op.soft?.probs ?? null, op.soft?.s ?? null, op.soft?.m ?? 0, i1 - i0, op.inDim, op.outDim, y, false);
      else if (op.soft) softLinearForward(rowsOf(op.x, i0, i1, op.inDim), op.w, op.soft, i1 - i0, op.inDim, op.outDim, y);
      else linearForward(rowsOf(op.x, i0, i1, op.inDim), op.w, op.mask, i1 - i0, op.inDim, op.outDim, y);
      if (op.bias) for (let t = 0; t < i1 - i0; t++) for (let o = 0, at = t * op.outDim; o < op.outDim; o++) y[at + o] += op.bias[o];
      return;
    }
    case "linearInputGrad": {
      const nk = linearKernels();
      if (op.packed) nk!.linearPacked!(false, rowsOf(op.dy, i0, i1, op.outDim), op.packed, i1 - i0, op.inDim, op.outDim, rowsOf(op.dx, i0, i1, op.inDim), op.accumulate);
      else if (nk) nk.linear(false, rowsOf(op.dy, i0, i1, op.outDim), op.w, op.mask ?? null, op.soft?.probs ?? null, op.soft?.s ?? null, op.soft?.m ?? 0, i1 - i0, op.inDim, op.outDim, rowsOf(op.dx, i0, i1, op.inDim), op.accumulate);
      else if (op.soft) softLinearInputGrad(rowsOf(op.dy, i0, i1, op.outDim), op.w, op.soft, i1 - i0, op.inDim, op.outDim, rowsOf(op.dx, i0, i1, op.inDim), op.accumulate);
      else linearInputGrad(rowsOf(op.dy, i0, i1, op.outDim), op.w, op.mask, i1 - i0, op.inDim, op.outDim, rowsOf(op.dx, i0, i1, op.inDim), op.accumulate);
      return;
    }
    case "argmaxChanges": {
      Atomics.add(op.changes, 0, argmaxChanges(op.logits.subarray(i0 * op.c, i1 * op.c), op.c, op.prev.subarray(i0, i1)));
      return;
    }
    case "packWeight": {
      linearKernels()!.packWeight!(op.forward, op.w, op.mask ?? null, op.soft?.probs ?? null, op.soft?.s ?? null, op.soft?.m ?? 0, op.inDim, op.outDim, op.packed, i0, i1);
      return;
    }
    case "maskGrad": {
      const g = scratchOf((i1 - i0) * op.inDim);
      const nk = linearKernels();
      (nk ?? { maskedWeightGradRows }).maskedWeightGradRows(op.x, op.dy, op.w, op.tokens, op.inDim, op.outDim, i0, i1, g);
      const perRow = op.inDim / op.m;
      const dProbs = op.dProbs.subarray(i0 * perRow * op.c, i1 * perRow * op.c);
      if (nk?.candidateGrad) nk.candidateGrad(g, op.s, dProbs, (i1 - i0) * perRow, op.c, op.m);
      else accumulateCandidateGrad({ groups: (i1 - i0) * perRow, candidates: op.c, m: op.m, s: op.s }, g, dProbs);
      return;
    }
    case "softMask": {
      const nk = linearKernels();
      if (nk?.softMask) nk.softMask(rowsOf(op.probs, i0, i1, op.c), op.s, rowsOf(op.masks, i0, i1, op.m), i1 - i0, op.c, op.m, op.hard);
      else softMask({ groups: i1 - i0, candidates: op.c, m: op.m, s: op.s }, rowsOf(op.probs, i0, i1, op.c), op.hard, rowsOf(op.masks, i0, i1, op.m));
      return;
    }
    case "rmsNorm": {
      const args = [rowsOf(op.x, i0, i1, op.n), op.w, rowsOf(op.y, i0, i1, op.n), op.r.subarray(i0, i1)] as const;
      const nk = linearKernels();
      if (nk?.rmsNorm) nk.rmsNorm(...args, i1 - i0, op.n, op.eps);
      else rmsNormForward(args[0], op.w, i1 - i0, op.n, op.eps, args[2], args[3]);
      return;
    }
    case "rmsNormBackward": {
      const dx = rowsOf(op.dx, i0, i1, op.n);
      const nk = linearKernels();
      if (nk?.rmsNormBackward) {
        nk.rmsNormBackward(rowsOf(op.x, i0, i1, op.n), op.w, op.r.subarray(i0, i1), rowsOf(op.dy, i0, i1, op.n), dx, i1 - i0, op.n, op.accumulate);
        return;
      }
      const out = op.accumulate ? scratchOf(dx.length) : dx;
      // dw (the norm's weight is frozen) goes to scratch too
      rmsNormBackward(rowsOf(op.x, i0, i1, op.n), op.w, op.r.subarray(i0, i1), rowsOf(op.dy, i0, i1, op.n), i1 - i0, op.n, out, scratchOf(op.n, "b"));
      if (op.accumulate) addInto(dx, out);
      return;
    }
    case "swiglu": {
      const args = [op.g, op.u, op.h, op.s].map((a) => a.subarray(i0, i1)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      (linearKernels()?.swiglu ?? swigluForward)(...args);
      return;
    }
    case "swigluBackward": {
      const args = [op.g, op.u, op.s, op.dh, op.dg, op.du].map((a) => a.subarray(i0, i1)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
      (linearKernels()?.swigluBackward ?? swigluBackward)(...args);
      return;
    }
    case "attention": {
      const s = op.shape;
      const rows = (a: Float32Array, heads: number) => a.subarray(i0 * s.seq * heads * s.headDim, i1 * s.seq * heads * s.headDim);
      const shape = { ...s, batch: i1 - i0 };
      const args = [shape, rows(op.q, s.heads), rows(op.k, s.kvHeads), rows(op.v, s.kvHeads), op.rope, rows(op.o, s.heads), op.lse.subarray(i0 * s.heads * s.seq, i1 * s.heads * s.seq)] as const;
      const nk = linearKernels();
      if (nk?.attentionForward) nk.attentionForward(...args);
      else attentionForward(...args);
      return;
    }
    case "attentionBackward": {
      const s = op.shape;
      const rows = (a: Float32Array, heads: number) => a.subarray(i0 * s.seq * heads * s.headDim, i1 * s.seq * heads * s.headDim);
      const shape = { ...s, batch: i1 - i0 };
      const args = [
        shape,
        rows(op.q, s.heads),
        rows(op.k, s.kvHeads),
        rows(op.v, s.kvHeads),
        rows(op.o, s.heads),
        op.lse.subarray(i0 * s.heads * s.seq, i1 * s.heads * s.seq),
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
      const r0 = i0 * op.seq;
      const r1 = i1 * op.seq;
      const nk = linearKernels();
      const x = rowsOf(op.x, r0, r1, op.d);
      const rest = [op.targets.subarray(r0, r1), op.weights.subarray(r0, r1), op.scale.subarray(r0, r1), i1 - i0, op.seq, op.d, op.vocab, rowsOf(op.dx, r0, r1, op.d), op.totals.subarray(i0, i1)] as const;
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
    runRange(op, 0, splitAxis(op).items);
  }
}
