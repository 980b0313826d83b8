// Mask prior (maskllm.md §2, Eq. 9-10): shift each group's logits toward the candidates that agree with a given
// mask M0: π_c += std(π)·α·(M0_g·S_c − N/2), std over the whole layer's logits (torch's unbiased std).
import type { NMPattern } from "../mask/patterns.js";
import { candidateIndices } from "../mask/patterns.js";
import { MaskShapeError } from "./logits.js";

export const DEFAULT_PRIOR_STRENGTH = 3;

function stdUnbiased(v: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < v.length; i++) mean += v[i];
  mean /= v.length;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - mean) ** 2;
  return Math.sqrt(s / Math.max(1, v.length - 1));
}

/**
 * Returns new logits with the prior applied. mask0 is the 0/1 mask over the [out, in] weight, row-major
 * (any nonzero counts as kept); it need not be exactly N:M (then similarities are just shifted).
 */
export function applyPrior(logits: Float32Array, mask0: ArrayLike<number>, p: NMPattern, alpha = DEFAULT_PRIOR_STRENGTH, name = "weight"): Float32Array {
  const cands = candidateIndices(p);
  const c = cands.length;
  const groups = logits.length / c;
  if (mask0.length !== groups * p.m)
    throw new MaskShapeError(`${name}: prior mask has ${mask0.length} values, logits expect ${groups * p.m}`);
  const scale = stdUnbiased(logits) * alpha;
  const out = new Float32Array(logits);
  const half = p.n / 2;
  for (let g = 0; g < groups; g++) {
    const base = g * p.m;
    for (let j = 0; j < c; j++) {
      let sim = -half;
      for (const k of cands[j]) if (mask0[base + k] !== 0) sim += 1;
      out[g * c + j] += scale * sim;
    }
  }
  return out;
}
