// Mask logits: one vector of C(M,N) candidate scores per group of M consecutive input weights of a linear
// ([out, in] row-major, so a group never crosses a row). Kept as plain Float32Arrays outside a run so callers
// (trim, artifacts, snapshots) need no tensors; within a run all targets share one array (logits-layout.ts).
import type { NMPattern } from "../mask/patterns.js";
import { candidateIndices } from "../mask/patterns.js";
import { normalNoise, seedFor } from "./rng.js";
import { linearKernels } from "../host/linear-kernels.js";

export class MaskShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MaskShapeError";
  }
}

export interface MaskTarget {
  /** HF weight name, e.g. model.layers.0.self_attn.q_proj.weight */
  name: string;
  /** [out, in] */
  shape: [number, number];
}

export type LogitsMap = Map<string, Float32Array>;

export function candidateCount(p: NMPattern): number {
  return candidateIndices(p).length;
}

export function groupCount(t: MaskTarget, p: NMPattern): number {
  const [out, inp] = t.shape;
  if (inp % p.m !== 0) throw new MaskShapeError(`${t.name}: input dimension ${inp} is not a multiple of M=${p.m}`);
  return (out * inp) / p.m;
}

/** π ~ N(0, std²) per target, each from its own stream so adding a layer does not change the others. */
export function initLogits(targets: MaskTarget[], p: NMPattern, seed: number, std = 0.01): LogitsMap {
  const out: LogitsMap = new Map();
  targets.forEach((t, i) => out.set(t.name, initTargetLogits(t, i, p, seed, std)));
  return out;
}

/** initLogits' values for target i alone. */
export function initTargetLogits(t: MaskTarget, i: number, p: NMPattern, seed: number, std = 0.01): Float32Array {
  return normalNoise(groupCount(t, p) * candidateCount(p), std, seedFor(seed, -1, i));
}

/** Group i's argmax candidate (first on ties). */
function bestCandidate(logits: Float32Array, i: number, c: number): number {
  let best = 0;
  let bv = logits[i * c];
  for (let j = 1; j < c; j++) {
    const v = logits[i * c + j];
    if (v > bv) {
      bv = v;
      best = j;
    }
  }
  return best;
}

/** The argmax candidate per group (first on ties), values [groups]. */
export function argmaxCandidates(logits: Float32Array, c: number): Int32Array {
  const g = logits.length / c;
  const out = new Int32Array(g);
  for (let i = 0; i < g; i++) out[i] = bestCandidate(logits, i, c);
  return out;
}

/**
 * How many groups' argmax candidate differs from `prev` (first on ties), updating `prev` in place: the loop's
 * mask-change figure without a new array per report (prev: argmaxCandidates' values, narrowed to 16 bits).
 */
export function argmaxChanges(logits: Float32Array, c: number, prev: Uint16Array): number {
  // a pass over every logit each report: native where plugged in (host/linear-kernels.ts)
  const nk = linearKernels();
  if (nk?.argmaxChanges) return nk.argmaxChanges(logits, c, prev);
  const g = logits.length / c;
  let changed = 0;
  for (let i = 0; i < g; i++) {
    const best = bestCandidate(logits, i, c);
    if (prev[i] !== best) {
      prev[i] = best;
      changed++;
    }
  }
  return changed;
}
