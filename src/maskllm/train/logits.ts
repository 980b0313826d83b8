// Mask logits: one vector of C(M,N) candidate scores per group of M consecutive input weights of a linear
// ([out, in] row-major, so a group never crosses a row). Kept as plain Float32Arrays outside a run so callers
// (trim, artifacts, snapshots) need no tensors; within a run all targets share one array (logits-layout.ts).
import type { NMPattern } from "../mask/patterns.js";
import { candidateIndices } from "../mask/patterns.js";
import { normalNoise, seedFor } from "./rng.js";

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
