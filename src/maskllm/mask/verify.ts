// Checks that a mask is exactly N:M: only 0/1 values, and N ones in every group of M consecutive input columns.
import { type NMPattern } from "./patterns.js";
import { assertGroupable } from "./select.js";

export interface NMVerification {
  ok: boolean;
  groups: number;
  /** groups whose count of ones is not N, or that hold a value other than 0/1 */
  badGroups: number;
  /** the first bad group, for the error message */
  firstBad?: { row: number; group: number; values: number[] };
}

export function verifyNMMask(mask: ArrayLike<number>, rows: number, cols: number, p: NMPattern): NMVerification {
  assertGroupable(rows, cols, p, "mask");
  if (mask.length !== rows * cols) throw new RangeError(`mask: length ${mask.length} != ${rows}×${cols}`);
  const { n, m } = p;
  const groups = mask.length / m;
  let badGroups = 0;
  let firstBad: NMVerification["firstBad"];
  for (let g = 0; g < groups; g++) {
    let ones = 0;
    let clean = true;
    for (let j = 0; j < m; j++) {
      const v = mask[g * m + j];
      if (v === 1) ones++;
      else if (v !== 0) clean = false;
    }
    if (ones !== n || !clean) {
      badGroups++;
      if (!firstBad) {
        const base = g * m;
        firstBad = { row: Math.floor(base / cols), group: (base % cols) / m, values: Array.from({ length: m }, (_, j) => mask[base + j]) };
      }
    }
  }
  return { ok: badGroups === 0, groups, badGroups, ...(firstBad ? { firstBad } : {}) };
}

/** True when every pruned position (mask 0) of the weight is an exact zero. */
export function zerosMatchMask(weight: ArrayLike<number>, mask: ArrayLike<number>): boolean {
  if (weight.length !== mask.length) return false;
  for (let i = 0; i < weight.length; i++) if (mask[i] === 0 && weight[i] !== 0) return false;
  return true;
}
