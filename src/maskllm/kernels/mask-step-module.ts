// The step's mask math (assembly/mask-step.ts) as plain functions over Float32Arrays (copied in and out). Buffers
// are laid out for the group count rounded up to 4 and the padding groups zeroed: the kernel works four groups a
// vector, and zero groups add nothing to its sums.
import { MASK_STEP_WASM_BASE64 } from "./mask-step-binary.js";
import { lazyKernels, layout, put, take, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  sample(logits: number, noise: number, s: number, probs: number, masks: number, scratch: number, groups: number, c: number, m: number, scale: number, hard: number): void;
  update(...args: number[]): void;
}

const kernels = lazyKernels<Exports>(MASK_STEP_WASM_BASE64);

export interface MaskLayout {
  groups: number;
  /** candidates per group, C */
  candidates: number;
  /** weights per group, M */
  m: number;
  /** the candidate matrix S [C, M] */
  s: Float32Array;
}

function check(l: MaskLayout, arrays: [string, Float32Array, number][]): void {
  if (l.s.length !== l.candidates * l.m) throw new RangeError(`candidate matrix has ${l.s.length} values, expected ${l.candidates * l.m}`);
  for (const [name, a, per] of arrays) if (a.length !== l.groups * per) throw new RangeError(`${name} has ${a.length} values, expected ${l.groups * per}`);
}

/** Copies `values` (groups·per floats) into a padded buffer, zeroing the padding. */
function putPadded(k: Exports, at: number, values: Float32Array, paddedLength: number): void {
  put(k, at, values);
  new Float32Array(k.memory.buffer, at + values.length * 4, paddedLength - values.length).fill(0);
}

/** ỹ = softmax(scale·logits + noise) [G, C] and M̃ = ỹ·S [G, M] (hard: the argmax candidate's row of S). */
export function sampleMasks(l: MaskLayout, logits: Float32Array, noise: Float32Array, scale: number, hard: boolean, probs: Float32Array, masks: Float32Array): void {
  check(l, [["logits", logits, l.candidates], ["noise", noise, l.candidates], ["probs", probs, l.candidates], ["masks", masks, l.m]]);
  const k = kernels();
  const gp = Math.ceil(l.groups / 4) * 4;
  const [pl, pn, ps, pp, pm, scratch] = layout(k, [gp * l.candidates * 4, gp * l.candidates * 4, l.s.length * 4, gp * l.candidates * 4, gp * l.m * 4, l.candidates * 16]);
  putPadded(k, pl, logits, gp * l.candidates);
  putPadded(k, pn, noise, gp * l.candidates);
  put(k, ps, l.s);
  k.sample(pl, pn, ps, pp, pm, scratch, gp, l.candidates, l.m, scale, hard ? 1 : 0);
  take(k, pp, probs);
  take(k, pm, masks);
}

export interface LogitsUpdate {
  /** κ/τ */
  scale: number;
  /** 2λ_t */
  twoLambda: number;
  clip: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 − lr·weightDecay */
  decay: number;
  /** lr / (1 − β₁ᵗ) */
  stepSize: number;
  /** 1 / √(1 − β₂ᵗ) */
  invSqrtBc2: number;
}

/**
 * The logits' gradient from ∂LM/∂M̃ (with the regulariser), clipped, and one AdamW step: logits, m and v are read and
 * their new values written to the `next*` arrays. Returns Σ‖W⊙M̃‖², the mean largest candidate probability and the
 * gradient's norm before clipping.
 */
export function updateLogits(
  l: MaskLayout,
  state: { logits: Float32Array; m: Float32Array; v: Float32Array },
  step: { probs: Float32Array; masks: Float32Array; lmGrad: Float32Array; weightSquared: Float32Array },
  u: LogitsUpdate,
  next: { logits: Float32Array; m: Float32Array; v: Float32Array },
): { reg: number; maxProb: number; gradNorm: number } {
  const c = l.candidates;
  check(l, [["logits", state.logits, c], ["m", state.m, c], ["v", state.v, c], ["probs", step.probs, c], ["masks", step.masks, l.m], ["lmGrad", step.lmGrad, l.m], ["weightSquared", step.weightSquared, l.m], ["next logits", next.logits, c], ["next m", next.m, c], ["next v", next.v, c]]);
  const k = kernels();
  const gp = Math.ceil(l.groups / 4) * 4;
  const wide = gp * c * 4;
  const narrow = gp * l.m * 4;
  const [pl, pm, pv, pp, pk, pg, pw, ps, pgrad, pstats, scratch] = layout(k, [wide, wide, wide, wide, narrow, narrow, narrow, l.s.length * 4, wide, 24, c * 16]);
  putPadded(k, pl, state.logits, gp * c);
  putPadded(k, pm, state.m, gp * c);
  putPadded(k, pv, state.v, gp * c);
  putPadded(k, pp, step.probs, gp * c);
  putPadded(k, pk, step.masks, gp * l.m);
  putPadded(k, pg, step.lmGrad, gp * l.m);
  putPadded(k, pw, step.weightSquared, gp * l.m);
  put(k, ps, l.s);
  k.update(pl, pm, pv, pp, pk, pg, pw, ps, pgrad, pstats, scratch, gp, c, l.m, u.scale, u.twoLambda, u.clip, u.beta1, u.beta2, u.eps, u.decay, u.stepSize, u.invSqrtBc2);
  take(k, pl, next.logits);
  take(k, pm, next.m);
  take(k, pv, next.v);
  const stats = new Float64Array(k.memory.buffer, pstats, 3);
  return { reg: stats[0], maxProb: stats[1] / l.groups, gradNorm: stats[2] };
}

// The host trainer's mask math (assembly/mask-step.ts, second half): one target (or a slice of one) per call, so a
// call's copies stay the size of one layer.
interface HostExports extends KernelInstance {
  softMask(probs: number, s: number, masks: number, groups: number, c: number, m: number, hard: number): void;
  candidateGrad(dm: number, s: number, dp: number, groups: number, c: number, m: number): void;
  candidateLogitsGrad(probs: number, dp: number, w: number, masks: number, s: number, stats: number, groups: number, c: number, m: number, scale: number, twoLambda: number): void;
  adamw(logits: number, mom: number, vel: number, grad: number, n: number, coef: number, b1: number, b2: number, eps: number, decay: number, stepSize: number, invSqrtBc2: number): void;
}

const host = () => kernels() as unknown as HostExports;

/** M̃ [G, M] = ỹ·S (hard: the argmax candidate's row of S) for ỹ [G, C]. */
export function softMask(l: MaskLayout, probs: Float32Array, hard: boolean, masks: Float32Array): void {
  check(l, [["probs", probs, l.candidates], ["masks", masks, l.m]]);
  const k = host();
  const [pp, ps, pm] = layout(k, [probs.byteLength, l.s.byteLength, masks.byteLength]);
  put(k, pp, probs);
  put(k, ps, l.s);
  k.softMask(pp, ps, pm, l.groups, l.candidates, l.m, hard ? 1 : 0);
  take(k, pm, masks);
}

/** ∂ỹ [G, C] += ∂M̃ [G, M]·Sᵀ. */
export function accumulateCandidateGrad(l: MaskLayout, dMasks: Float32Array, dProbs: Float32Array): void {
  check(l, [["dMasks", dMasks, l.m], ["dProbs", dProbs, l.candidates]]);
  const k = host();
  const [pg, ps, pd] = layout(k, [dMasks.byteLength, l.s.byteLength, dProbs.byteLength]);
  put(k, pg, dMasks);
  put(k, ps, l.s);
  put(k, pd, dProbs);
  k.candidateGrad(pg, ps, pd, l.groups, l.candidates, l.m);
  take(k, pd, dProbs);
}

/**
 * The logits' gradient in place over ∂ỹ (with the regulariser's term from w [G·M] and M̃), returning Σ‖W⊙M̃‖²,
 * Σ_groups max ỹ and Σ ∂π² of these groups.
 */
export function candidateLogitsGrad(l: MaskLayout, probs: Float32Array, dProbs: Float32Array, w: Float32Array, masks: Float32Array, scale: number, twoLambda: number): { reg: number; maxProbSum: number; sq: number } {
  check(l, [["probs", probs, l.candidates], ["dProbs", dProbs, l.candidates], ["w", w, l.m], ["masks", masks, l.m]]);
  const k = host();
  const [pp, pd, pw, pm, ps, pst] = layout(k, [probs.byteLength, dProbs.byteLength, w.byteLength, masks.byteLength, l.s.byteLength, 24]);
  put(k, pp, probs);
  put(k, pd, dProbs);
  put(k, pw, w);
  put(k, pm, masks);
  put(k, ps, l.s);
  new Float64Array(k.memory.buffer, pst, 3).fill(0);
  k.candidateLogitsGrad(pp, pd, pw, pm, ps, pst, l.groups, l.candidates, l.m, scale, twoLambda);
  take(k, pd, dProbs);
  const st = new Float64Array(k.memory.buffer, pst, 3);
  return { reg: st[0], maxProbSum: st[1], sq: st[2] };
}

/** AdamW in place on logits, m and v from grad·coef (coef: the clipping factor). */
export function adamwUpdate(state: { logits: Float32Array; m: Float32Array; v: Float32Array }, grad: Float32Array, coef: number, u: Omit<LogitsUpdate, "scale" | "twoLambda" | "clip">): void {
  const n = grad.length;
  for (const [name, a] of [["logits", state.logits], ["m", state.m], ["v", state.v]] as const) if (a.length !== n) throw new RangeError(`adamw: ${name} has ${a.length} values, expected ${n}`);
  const k = host();
  const [pl, pm, pv, pg] = layout(k, [n * 4 + 16, n * 4 + 16, n * 4 + 16, n * 4 + 16]);
  put(k, pl, state.logits);
  put(k, pm, state.m);
  put(k, pv, state.v);
  put(k, pg, grad);
  k.adamw(pl, pm, pv, pg, n, coef, u.beta1, u.beta2, u.eps, u.decay, u.stepSize, u.invSqrtBc2);
  take(k, pl, state.logits);
  take(k, pm, state.m);
  take(k, pv, state.v);
}
