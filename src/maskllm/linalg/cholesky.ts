// Cholesky factorisation of a symmetric positive definite matrix in Float64 (TF.js has no Cholesky).
// Row-major and in place. The dot-product (Crout) form keeps every inner loop on two contiguous row prefixes;
// four rows of L are built at once against pairs of earlier rows, so each earlier row is read once per four.

export class NotPositiveDefiniteError extends Error {
  constructor(readonly index: number, readonly pivot: number) {
    super(`matrix is not positive definite: pivot ${index} is ${pivot}`);
    this.name = "NotPositiveDefiniteError";
  }
}

/**
 * Overwrites the lower triangle (diagonal included) of the n×n row-major `a` with L, where A = L·Lᵀ.
 * Only the lower triangle of `a` is read; the strictly upper triangle is left as it was.
 */
export function choleskyLowerInPlace(a: Float64Array, n: number): void {
  if (a.length !== n * n) throw new RangeError(`cholesky: length ${a.length} != ${n}×${n}`);
  let i0 = 0;
  for (; i0 + 4 <= n; i0 += 4) {
    const r0 = i0 * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
    let j = 0;
    for (; j + 2 <= i0; j += 2) {
      const rj = j * n, rk = rj + n;
      let s00 = 0, s10 = 0, s20 = 0, s30 = 0, s01 = 0, s11 = 0, s21 = 0, s31 = 0;
      for (let k = 0; k < j; k++) {
        const x = a[rj + k], y = a[rk + k];
        const v0 = a[r0 + k], v1 = a[r1 + k], v2 = a[r2 + k], v3 = a[r3 + k];
        s00 += v0 * x; s10 += v1 * x; s20 += v2 * x; s30 += v3 * x;
        s01 += v0 * y; s11 += v1 * y; s21 += v2 * y; s31 += v3 * y;
      }
      const dj = a[rj + j], lkj = a[rk + j], dk = a[rk + j + 1];
      const l0 = (a[r0 + j] - s00) / dj, l1 = (a[r1 + j] - s10) / dj, l2 = (a[r2 + j] - s20) / dj, l3 = (a[r3 + j] - s30) / dj;
      a[r0 + j] = l0; a[r1 + j] = l1; a[r2 + j] = l2; a[r3 + j] = l3;
      // column j+1 also needs the k = j term, which only exists now
      a[r0 + j + 1] = (a[r0 + j + 1] - s01 - l0 * lkj) / dk;
      a[r1 + j + 1] = (a[r1 + j + 1] - s11 - l1 * lkj) / dk;
      a[r2 + j + 1] = (a[r2 + j + 1] - s21 - l2 * lkj) / dk;
      a[r3 + j + 1] = (a[r3 + j + 1] - s31 - l3 * lkj) / dk;
    }
    for (; j < i0; j++) {
      const rj = j * n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < j; k++) {
        const x = a[rj + k];
        s0 += a[r0 + k] * x; s1 += a[r1 + k] * x; s2 += a[r2 + k] * x; s3 += a[r3 + k] * x;
      }
      const dj = a[rj + j];
      a[r0 + j] = (a[r0 + j] - s0) / dj; a[r1 + j] = (a[r1 + j] - s1) / dj;
      a[r2 + j] = (a[r2 + j] - s2) / dj; a[r3 + j] = (a[r3 + j] - s3) / dj;
    }
    for (let i = i0; i < i0 + 4; i++) finishRow(a, n, i, i0);
  }
  for (let i = i0; i < n; i++) finishRow(a, n, i, 0);
}

/** Columns from..i of row i, one dot product each. */
function finishRow(a: Float64Array, n: number, i: number, from: number): void {
  const ri = i * n;
  for (let j = from; j <= i; j++) {
    const rj = j * n;
    let s = a[ri + j];
    for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
    if (j < i) a[ri + j] = s / a[rj + j];
    else {
      if (!(s > 0)) throw new NotPositiveDefiniteError(i, s);
      a[ri + i] = Math.sqrt(s);
    }
  }
}
