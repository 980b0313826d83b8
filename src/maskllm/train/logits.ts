// Mask logits: one vector of C(M,N) candidate scores per group of M consecutive input weights of a linear
// ([out, in] row-major, so a group never crosses a row). Kept as plain Float32Arrays outside a run so callers
// (trim, artifacts, snapshots) need no tensors; the loop turns them into tf.Variables.
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
  const c = candidateCount(p);
  const out: LogitsMap = new Map();
  targets.forEach((t, i) => out.set(t.name, normalNoise(groupCount(t, p) * c, std, seedFor(seed, -1, i))));
  return out;
}

/** The argmax candidate per group (first on ties), values [groups]. */
export function argmaxCandidates(logits: Float32Array, c: number): Int32Array {
  const g = logits.length / c;
  const out = new Int32Array(g);
  for (let i = 0; i < g; i++) {
    let best = 0;
    let bv = logits[i * c];
    for (let j = 1; j < c; j++) {
      const v = logits[i * c + j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}
