// The argmax candidate of each group of mask logits (first on ties), and how many changed since the last count:
// kept apart from logits.ts so the training threads (host/ops.ts) can run it without loading TF.js.
import { linearKernels } from "../host/linear-kernels.js";

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
