import { test } from "node:test";
import assert from "node:assert/strict";
import { choleskyLowerInPlace, NotPositiveDefiniteError } from "../../../src/maskllm/linalg/cholesky.js";
import { inverseCholeskyDiagonal, upperCholeskyOfInverseInPlace } from "../../../src/maskllm/linalg/inverse-cholesky.js";

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

function lower(a: Float64Array, n: number) {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) l[i * n + j] = a[i * n + j];
  return l;
}

/** A random SPD matrix XᵀX/t + 0.1·I from a seeded LCG. */
function randomSpd(n: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const t = n + 3;
  const x = Float64Array.from({ length: t * n }, rnd);
  const h = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let v = 0;
    for (let r = 0; r < t; r++) v += x[r * n + i] * x[r * n + j];
    h[i * n + j] = v / t + (i === j ? 0.1 : 0);
  }
  return h;
}

/** The reference SparseGPT path, naively: chol(H) → (LLᵀ)⁻¹ by Gauss-Jordan → upper chol. */
function referenceU(h: Float64Array, n: number): Float64Array {
  const aug = new Float64Array(n * 2 * n);
  for (let i = 0; i < n; i++) { for (let j = 0; j < n; j++) aug[i * 2 * n + j] = h[i * n + j]; aug[i * 2 * n + n + i] = 1; }
  for (let c = 0; c < n; c++) {
    const p = aug[c * 2 * n + c];
    for (let j = 0; j < 2 * n; j++) aug[c * 2 * n + j] /= p;
    for (let r = 0; r < n; r++) if (r !== c) {
      const f = aug[r * 2 * n + c];
      for (let j = 0; j < 2 * n; j++) aug[r * 2 * n + j] -= f * aug[c * 2 * n + j];
    }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) inv[i * n + j] = aug[i * 2 * n + n + j];
  // upper U with UᵀU = inv is Lᵀ of the lower factor
  choleskyLowerInPlace(inv, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = inv[j * n + i];
  return u;
}

test("cholesky of a hand-worked 3×3 matrix", () => {
  const a = Float64Array.from([4, 12, -16, 12, 37, -43, -16, -43, 98]);
  choleskyLowerInPlace(a, 3);
  close(lower(a, 3), [2, 0, 0, 6, 1, 0, -8, 5, 3], 1e-15, "L");
});

test("upper Cholesky of the inverse, 2×2 by hand", () => {
  // H = [[4,2],[2,3]], H⁻¹ = [[3,-2],[-2,4]]/8, so U = [[√(3/8), −1/(4√(3/8))], [0, √(1/3)]]
  const h = Float64Array.from([4, 2, 2, 3]);
  upperCholeskyOfInverseInPlace(h, 2);
  const u11 = Math.sqrt(3 / 8);
  close(h, [u11, -1 / (4 * u11), 0, Math.sqrt(1 / 3)], 1e-15, "U");
  close(inverseCholeskyDiagonal(Float64Array.from([4, 2, 2, 3]), 2), [u11, Math.sqrt(1 / 3)], 1e-15, "diag U");
});

test("blocked kernels agree with L·Lᵀ = H and with the chol → inverse → chol path, across block tails", () => {
  for (const n of [1, 3, 4, 5, 8, 13, 37]) {
    const h = randomSpd(n, n * 7 + 1);
    const a = h.slice();
    choleskyLowerInPlace(a, n);
    const l = lower(a, n);
    const llt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let v = 0; for (let k = 0; k < n; k++) v += l[i * n + k] * l[j * n + k]; llt[i * n + j] = v; }
    close(llt, h, 1e-12, `LLᵀ n=${n}`);
    const u = h.slice();
    upperCholeskyOfInverseInPlace(u, n);
    close(u, referenceU(h, n), 1e-9, `U n=${n}`);
    // UᵀU·H = I
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let v = 0;
      for (let k = 0; k < n; k++) { let uu = 0; for (let r = 0; r <= Math.min(i, k); r++) uu += u[r * n + i] * u[r * n + k]; v += uu * h[k * n + j]; }
      assert.ok(Math.abs(v - (i === j ? 1 : 0)) < 1e-9, `UᵀUH n=${n} [${i},${j}] = ${v}`);
    }
    const d = inverseCholeskyDiagonal(h.slice(), n);
    close(d, Array.from({ length: n }, (_, i) => u[i * n + i]), 1e-12, `diag n=${n}`);
  }
});

test("a matrix that is not positive definite is refused with a typed error", () => {
  assert.throws(() => choleskyLowerInPlace(Float64Array.from([1, 2, 2, 1]), 2), (e: unknown) => e instanceof NotPositiveDefiniteError && e.index === 1);
  assert.throws(() => choleskyLowerInPlace(new Float64Array(3), 2), RangeError);
});
