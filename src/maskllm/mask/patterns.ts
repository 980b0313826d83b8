// N:M candidate patterns: for each group of M consecutive weights along a linear's input dimension, the
// C(M,N) ways to keep N of them, in lexicographic order of the kept indices (MaskLLM's order for 2:4:
// 1100, 1010, 1001, 0110, 0101, 0011). Training and trimming only need to agree on this order.
import * as tf from "@tensorflow/tfjs";
import { assertPattern, type NMPattern } from "./nm.js";

export { assertPattern, formatPattern, parsePattern, type NMPattern } from "./nm.js";

/** The kept-index tuples, lexicographic: for 2:4 [[0,1],[0,2],[0,3],[1,2],[1,3],[2,3]]. */
export function candidateIndices({ n, m }: NMPattern): number[][] {
  assertPattern({ n, m });
  const out: number[][] = [];
  const cur: number[] = [];
  const rec = (start: number) => {
    if (cur.length === n) {
      out.push([...cur]);
      return;
    }
    for (let i = start; i <= m - (n - cur.length); i++) {
      cur.push(i);
      rec(i + 1);
      cur.pop();
    }
  };
  rec(0);
  return out;
}

/** The candidate matrix S as 0/1 floats, row-major [C(M,N), M]. */
export function candidateMatrixValues(p: NMPattern): Float32Array {
  const cands = candidateIndices(p);
  const s = new Float32Array(cands.length * p.m);
  cands.forEach((kept, c) => kept.forEach((i) => (s[c * p.m + i] = 1)));
  return s;
}

/** S as a tensor [C(M,N), M]; build it once per run, not per step. */
export function candidateMatrix(p: NMPattern): tf.Tensor2D {
  const cands = candidateIndices(p);
  return tf.tensor2d(candidateMatrixValues(p), [cands.length, p.m]);
}

/** True when every group of M consecutive values in each row (row length a multiple of M) has exactly N nonzeros. */
export function isExactNM(values: ArrayLike<number>, rowLength: number, { n, m }: NMPattern): boolean {
  if (rowLength % m !== 0 || values.length % rowLength !== 0) return false;
  for (let g = 0; g < values.length; g += m) {
    let nz = 0;
    for (let j = 0; j < m; j++) if (values[g + j] !== 0) nz++;
    if (nz !== n) return false;
  }
  return true;
}
