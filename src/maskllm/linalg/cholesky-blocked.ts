// Blocked right-looking Cholesky in float32 (LAPACK's spotrf order) with the panel solve and the trailing update on
// our GEMM, split over an Executor's threads. SparseGPT's reference factors its Hessian in float32 on the GPU; the
// Float64 scalar factorisation (cholesky.ts) runs at ~2 GFLOP/s, ~30 s for a 5632-wide Hessian, which a 1.1B model
// has 22 of. Each nb-wide diagonal block is still factored in Float64 (it holds the pivots).
import type { Executor } from "../host/ops.js";
import { choleskyLowerInPlace } from "./cholesky.js";

/** Block width: the products' inner dimension (K), large enough to keep the GEMM near its rate. */
const NB = 128;
/** Rows of the trailing matrix updated per product: only the lower triangle is formed, row block by row block. */
const ROW_BLOCK = 512;

/** Scratch for factorisations up to n×n, made once: an executor's buffers live as long as it does. */
export interface CholeskyWorkspace {
  n: number;
  inv: Float32Array;
  panel: Float32Array;
  l21: Float32Array;
  prod: Float32Array;
}

/** Floats of choleskyWorkspace(exec, n). */
export function choleskyWorkspaceFloats(n: number): number {
  return NB * NB + 2 * n * NB + Math.min(ROW_BLOCK, n) * n;
}

export function choleskyWorkspace(exec: Executor, n: number): CholeskyWorkspace {
  return { n, inv: exec.f32(NB * NB), panel: exec.f32(n * NB), l21: exec.f32(n * NB), prod: exec.f32(Math.min(ROW_BLOCK, n) * n) };
}

/** The lower triangle of L (A = L·Lᵀ) in float32 over the lower triangle of the n×n row-major `a`. */
export function choleskyLowerBlockedF32(a: Float32Array, n: number, exec: Executor, ws: CholeskyWorkspace = choleskyWorkspace(exec, n)): void {
  if (a.length !== n * n) throw new RangeError(`cholesky: length ${a.length} != ${n}×${n}`);
  if (ws.n < n) throw new RangeError(`cholesky: workspace for ${ws.n}, matrix ${n}`);
  const nb = Math.min(NB, n);
  const diag = new Float64Array(nb * nb);
  const { inv, panel, l21, prod } = ws;
  for (let k0 = 0; k0 < n; k0 += nb) {
    const k1 = Math.min(n, k0 + nb);
    const b = k1 - k0;
    // the diagonal block, in Float64
    const d = diag.subarray(0, b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) d[i * b + j] = a[(k0 + i) * n + k0 + j];
    choleskyLowerInPlace(d, b);
    for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) a[(k0 + i) * n + k0 + j] = d[i * b + j];
    const m = n - k1;
    if (m === 0) break;
    // L21 = A21·L11⁻ᵀ: the "linear" product y = x·wᵀ with w = L11⁻¹
    lowerInverseInto(d, b, inv.subarray(0, b * b));
    const p = panel.subarray(0, m * b);
    for (let i = 0; i < m; i++) p.set(a.subarray((k1 + i) * n + k0, (k1 + i) * n + k1), i * b);
    const l = l21.subarray(0, m * b);
    exec.run({ kind: "linear", x: p, w: inv.subarray(0, b * b), y: l, tokens: m, inDim: b, outDim: b });
    for (let i = 0; i < m; i++) a.set(l.subarray(i * b, (i + 1) * b), (k1 + i) * n + k0);
    // A22 −= L21·L21ᵀ on and below the diagonal: rows r0..r1 need columns k1..r1 only
    for (let r0 = 0; r0 < m; r0 += ROW_BLOCK) {
      const r1 = Math.min(m, r0 + ROW_BLOCK);
      const rows = r1 - r0;
      const y = prod.subarray(0, rows * r1);
      exec.run({ kind: "linear", x: l.subarray(r0 * b, r1 * b), w: l.subarray(0, r1 * b), y, tokens: rows, inDim: b, outDim: r1 });
      for (let i = 0; i < rows; i++) {
        const row = (k1 + r0 + i) * n + k1;
        const yi = i * r1;
        for (let j = 0; j <= r0 + i; j++) a[row + j] -= y[yi + j];
      }
    }
  }
}

/** The lower triangular inverse of the b×b lower `l` (Float64) into `out` (float32, zeros above the diagonal). */
function lowerInverseInto(l: Float64Array, b: number, out: Float32Array): void {
  const x = new Float64Array(b * b);
  for (let j = 0; j < b; j++) {
    x[j * b + j] = 1 / l[j * b + j];
    for (let i = j + 1; i < b; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * b + k] * x[k * b + j];
      x[i * b + j] = -s / l[i * b + i];
    }
  }
  for (let i = 0; i < b * b; i++) out[i] = x[i];
}

/** diag(U) of U upper with UᵀU = H⁻¹ (see inverse-cholesky.ts), H given in float32 and destroyed. */
export function inverseCholeskyDiagonalF32(h: Float32Array, n: number, exec: Executor, ws?: CholeskyWorkspace): Float64Array {
  h.reverse(); // J·H·J
  choleskyLowerBlockedF32(h, n, exec, ws);
  const d = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const k = n - 1 - j;
    d[j] = 1 / h[k * n + k];
  }
  return d;
}
