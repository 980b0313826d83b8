// Hard N:M masks from per-weight scores: in each group of M consecutive input columns of every output row,
// keep the N highest scores. Weights are HF-style [out, in], row-major, so a group is M adjacent values.
import { assertPattern, type NMPattern } from "./patterns.js";

/** Throws unless a [rows, cols] matrix can be cut into N:M groups along its input dimension. */
export function assertGroupable(rows: number, cols: number, p: NMPattern, what = "matrix"): void {
  assertPattern(p);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
    throw new RangeError(`${what}: shape must be positive integers, got [${rows}, ${cols}]`);
  if (cols % p.m !== 0)
    throw new RangeError(`${what}: input dimension ${cols} is not a multiple of M=${p.m} (pattern ${p.n}:${p.m})`);
}

/**
 * The hard mask (1 = keep) of a [rows, cols] score matrix: per group the N largest scores win; ties go to the
 * lower index so the result is deterministic; NaN ranks below everything.
 */
export function nmMaskFromScores(scores: ArrayLike<number>, rows: number, cols: number, p: NMPattern): Uint8Array {
  assertGroupable(rows, cols, p, "scores");
  if (scores.length !== rows * cols) throw new RangeError(`scores: length ${scores.length} != ${rows}×${cols}`);
  const { n, m } = p;
  const mask = new Uint8Array(rows * cols);
  const order = new Int32Array(m);
  const vals = new Float64Array(m);
  for (let g = 0; g < mask.length; g += m) keepTopN(scores, g, n, m, mask, g, order, vals);
  return mask;
}

/**
 * Marks (sets to 1) in `mask[maskOffset..+m)` the N best of `scores[offset..+m)`; the caller clears the slots
 * first. `order` (Int32Array(m)) and `vals` (Float64Array(m)) are scratch, so hot loops allocate nothing.
 */
export function keepTopN(scores: ArrayLike<number>, offset: number, n: number, m: number, mask: Uint8Array, maskOffset: number, order: Int32Array, vals: Float64Array): void {
  // insertion sort of the group's indices, best first (M <= 16, so this beats anything clever)
  for (let j = 0; j < m; j++) {
    const v = scores[offset + j];
    const s = Number.isNaN(v) ? -Infinity : v;
    let k = j;
    while (k > 0 && vals[k - 1] < s) {
      vals[k] = vals[k - 1];
      order[k] = order[k - 1];
      k--;
    }
    vals[k] = s;
    order[k] = j;
  }
  for (let k = 0; k < n; k++) mask[maskOffset + order[k]] = 1;
}

/** Applies a 0/1 mask in place: pruned entries become exact zeros (+0, never -0). */
export function applyMaskInPlace(weight: Float32Array | Float64Array, mask: ArrayLike<number>): void {
  if (weight.length !== mask.length) throw new RangeError(`mask length ${mask.length} != weight length ${weight.length}`);
  for (let i = 0; i < weight.length; i++) if (mask[i] === 0) weight[i] = 0;
}
