// The upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), which SparseGPT needs. The reference computes
// chol(H) → cholesky_inverse → chol(·, upper). Cheaper and the same matrix by uniqueness of the factor:
// with J the reversal permutation and JHJ = L̃L̃ᵀ, H = (JL̃J)(JL̃J)ᵀ with JL̃J upper, hence U = J·L̃⁻¹·J.
// One Cholesky plus one triangular inverse (2n³/3 flops instead of 4n³/3), all in place in one n² buffer.
import { choleskyLowerInPlace } from "./cholesky.js";

/** diag(U) alone: U_jj = 1 / L̃[n−1−j, n−1−j]. Destroys `h`. */
export function inverseCholeskyDiagonal(h: Float64Array, n: number): Float64Array {
  h.reverse(); // the flattened reversal of a square matrix is J·H·J
  choleskyLowerInPlace(h, n);
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const k = n - 1 - j;
    d[j] = 1 / h[k * n + k];
  }
  return d;
}

/** Replaces the symmetric positive definite n×n row-major `h` with U (upper, zeros below), UᵀU = H⁻¹. */
export function upperCholeskyOfInverseInPlace(h: Float64Array, n: number): void {
  h.reverse();
  choleskyLowerInPlace(h, n);
  invertLowerIntoUpper(h, n);
  // now the upper triangle (with diagonal) holds Y = (L̃⁻¹)ᵀ; U[a][b] = L̃⁻¹[n−1−a][n−1−b] = Y[n−1−b][n−1−a]
  for (let a = 0; a < n; a++) {
    for (let b = a; a + b < n - 1; b++) {
      const p = a * n + b, q = (n - 1 - b) * n + (n - 1 - a);
      const t = h[p];
      h[p] = h[q];
      h[q] = t;
    }
  }
  for (let i = 1; i < n; i++) h.fill(0, i * n, i * n + i);
}

/**
 * With L in the lower triangle of `a`, writes Y = (L⁻¹)ᵀ into the upper triangle and the diagonal, keeping
 * L's strictly lower part (which the recurrence still reads). Y[j][i] = −(Σ_{k=j}^{i−1} L[i][k]·Y[j][k]) / L[i][i],
 * so every dot runs over two contiguous row segments; four rows of Y share each row of L.
 */
function invertLowerIntoUpper(a: Float64Array, n: number): void {
  const diag = new Float64Array(n);
  for (let i = 0; i < n; i++) diag[i] = a[i * n + i];
  for (let j = 0; j < n; j++) a[j * n + j] = 1 / diag[j];
  let j0 = 0;
  for (; j0 + 4 <= n; j0 += 4) {
    // the small triangle i <= j0+3, row by row
    for (let j = j0; j < j0 + 4; j++) {
      const rj = j * n;
      for (let i = j + 1; i < j0 + 4; i++) {
        const ri = i * n;
        let s = 0;
        for (let k = j; k < i; k++) s += a[ri + k] * a[rj + k];
        a[rj + i] = -s / diag[i];
      }
    }
    const y0 = j0 * n, y1 = y0 + n, y2 = y1 + n, y3 = y2 + n;
    const e = j0 + 4;
    for (let i = e; i < n; i++) {
      const ri = i * n;
      // the head k < j0+4 touches each row's own start (k >= j_r only)
      const l0 = a[ri + j0], l1 = a[ri + j0 + 1], l2 = a[ri + j0 + 2], l3 = a[ri + j0 + 3];
      let s0 = l0 * a[y0 + j0] + l1 * a[y0 + j0 + 1] + l2 * a[y0 + j0 + 2] + l3 * a[y0 + j0 + 3];
      let s1 = l1 * a[y1 + j0 + 1] + l2 * a[y1 + j0 + 2] + l3 * a[y1 + j0 + 3];
      let s2 = l2 * a[y2 + j0 + 2] + l3 * a[y2 + j0 + 3];
      let s3 = l3 * a[y3 + j0 + 3];
      for (let k = e; k < i; k++) {
        const l = a[ri + k];
        s0 += l * a[y0 + k]; s1 += l * a[y1 + k]; s2 += l * a[y2 + k]; s3 += l * a[y3 + k];
      }
      const d = diag[i];
      a[y0 + i] = -s0 / d; a[y1 + i] = -s1 / d; a[y2 + i] = -s2 / d; a[y3 + i] = -s3 / d;
    }
  }
  for (let j = j0; j < n; j++) {
    const rj = j * n;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = 0;
      for (let k = j; k < i; k++) s += a[ri + k] * a[rj + k];
      a[rj + i] = -s / diag[i];
    }
  }
}
