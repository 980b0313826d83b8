// XᵀX on host arrays for SparseGPT's Hessian, on our GEMM split over an executor's threads (the TF.js path,
// calibration-stats.ts, took 517 s for one 4096-wide Hessian of 128×2048 tokens). The product is symmetric: it is
// formed in column panels, each only on and above the diagonal, which with 256-wide panels is ~55% of the full work.
import type { Executor } from "../host/ops.js";

/** Gram products run in column panels of this width (the accumulator's scratch is this many columns wide). */
export const PANEL = 256;

/** Accumulates the upper triangle of XᵀX (diagonal blocks whole) for inputs up to `maxWidth` × `maxTokens`. */
export class GramAccumulator {
  private readonly xt: Float32Array;
  private readonly prod: Float32Array;

  constructor(private readonly exec: Executor, readonly maxWidth: number, readonly maxTokens: number) {
    // an executor's buffers live as long as it does: made once, reused by every call
    this.xt = exec.f32(maxWidth * maxTokens);
    this.prod = exec.f32(maxWidth * PANEL);
  }

  /** g [n, n] += upper triangle of XᵀX for x [tokens, n] (row-major). */
  add(x: Float32Array, tokens: number, n: number, g: Float64Array): void {
    if (n > this.maxWidth || tokens > this.maxTokens) throw new RangeError(`gram: [${tokens}, ${n}] exceeds [${this.maxTokens}, ${this.maxWidth}]`);
    if (x.length < tokens * n || g.length !== n * n) throw new RangeError(`gram: x has ${x.length} values for [${tokens}, ${n}], g ${g.length}`);
    const xt = this.xt.subarray(0, n * tokens);
    transposeInto(x, tokens, n, xt);
    for (let c0 = 0; c0 < n; c0 += PANEL) {
      const c1 = Math.min(n, c0 + PANEL);
      const pw = c1 - c0;
      const y = this.prod.subarray(0, c1 * pw);
      // rows 0..c1 of the panel's columns: y = X[:, 0:c1]ᵀ · X[:, c0:c1], both operands rows of Xᵀ
      this.exec.run({ kind: "linear", x: xt.subarray(0, c1 * tokens), w: xt.subarray(c0 * tokens, c1 * tokens), y, tokens: c1, inDim: tokens, outDim: pw });
      addUpper(y, c0, c1, n, g);
    }
  }
}

function transposeInto(x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  // 32×32 tiles keep both sides' lines in cache
  for (let r0 = 0; r0 < rows; r0 += 32)
    for (let c0 = 0; c0 < cols; c0 += 32) {
      const r1 = Math.min(rows, r0 + 32), c1 = Math.min(cols, c0 + 32);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = x[r * cols + c];
    }
}

function addUpper(y: Float32Array, c0: number, c1: number, n: number, g: Float64Array): void {
  const pw = c1 - c0;
  for (let i = 0; i < c1; i++) {
    const gi = i * n + c0, yi = i * pw;
    for (let j = Math.max(0, i - c0); j < pw; j++) g[gi + j] += y[yi + j];
  }
}

/** h [n, n] = scale·g from g's upper triangle, mirrored. */
export function symmetricFromUpper(g: Float64Array, n: number, scale: number, h: Float32Array | Float64Array): void {
  // in 64×64 tiles, so the mirrored (column) writes stay in cache
  for (let i0 = 0; i0 < n; i0 += 64)
    for (let j0 = i0; j0 < n; j0 += 64)
      for (let i = i0; i < Math.min(n, i0 + 64); i++)
        for (let j = Math.max(i, j0); j < Math.min(n, j0 + 64); j++) h[i * n + j] = h[j * n + i] = g[i * n + j] * scale;
}
