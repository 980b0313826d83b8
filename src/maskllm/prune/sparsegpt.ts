// SparseGPT (Frantar & Alistarh 2023) for one linear layer with N:M selection, on raw Float64 matrices.
// See docs/maskllm.md §10. Rows of W never interact: a column's error only moves later columns of the same row,
// so every step below runs row by row over contiguous memory.
import { type NMPattern } from "../mask/patterns.js";
import { assertGroupable, keepTopN } from "../mask/select.js";
import { upperCholeskyOfInverseInPlace, inverseCholeskyDiagonal } from "../linalg/inverse-cholesky.js";
import { inverseCholeskyDiagonalF32, type CholeskyWorkspace } from "../linalg/cholesky-blocked.js";
import type { Executor } from "../host/ops.js";
import { PruneInputError } from "./errors.js";

export interface SparseGptOptions {
  pattern: NMPattern;
  /** true: OBS error compensation of the kept weights; false: the mask only (MaskLLM's prior), W untouched */
  update: boolean;
  /** lazy-batch width; rounded down to a multiple of M so groups never straddle two blocks (default 128) */
  blockSize?: number;
  /** dampening as a fraction of mean(diag H) (default 0.01) */
  percDamp?: number;
}

export interface SparseGptResult {
  /** 1 = keep, row-major [rows, cols] */
  mask: Uint8Array;
  /** update mode only: the compensated weight, exact zeros where the mask is 0 */
  weight?: Float32Array;
  /** Σ (w − q)² / U_ii² / 2, SparseGPT's layer loss (in update mode it equals ½·tr(ΔW·H·ΔWᵀ), H dampened) */
  loss: number;
  /** input features that never fired (H_jj = 0); their weights are treated as zero */
  deadColumns: number;
}

/**
 * Prunes a [rows, cols] weight given H = 2·XᵀX/n ([cols, cols], row-major). `hessian` is consumed (overwritten).
 */
export function sparseGpt(weight: ArrayLike<number>, rows: number, cols: number, hessian: Float64Array, opts: SparseGptOptions): SparseGptResult {
  const p = opts.pattern;
  assertGroupable(rows, cols, p, "sparsegpt weight");
  if (weight.length !== rows * cols) throw new PruneInputError(`sparsegpt: weight length ${weight.length} != ${rows}×${cols}`);
  if (hessian.length !== cols * cols) throw new PruneInputError(`sparsegpt: hessian length ${hessian.length} != ${cols}×${cols}`);
  const percDamp = opts.percDamp ?? 0.01;
  const block = Math.max(p.m, Math.floor((opts.blockSize ?? 128) / p.m) * p.m);

  const w = Float64Array.from(weight);
  const deadColumns = dampen(w, rows, cols, hessian, percDamp);
  const mask = new Uint8Array(rows * cols);
  if (!opts.update) {
    // W never changes, so only diag(U) matters: a single Cholesky
    const loss = maskFromDiagonal(w, rows, cols, inverseCholeskyDiagonal(hessian, cols), p, mask);
    return { mask, loss, deadColumns };
  }

  const order = new Int32Array(p.m);
  const vals = new Float64Array(p.m);
  const scores = new Float64Array(p.m);

  upperCholeskyOfInverseInPlace(hessian, cols);
  const u = hessian;
  const err = new Float64Array(rows * block);
  let loss = 0;
  for (let i1 = 0; i1 < cols; i1 += block) {
    const i2 = Math.min(i1 + block, cols);
    const count = i2 - i1;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const eo = r * block;
      for (let i = i1; i < i2; i++) {
        if ((i - i1) % p.m === 0) {
          for (let j = 0; j < p.m; j++) {
            const dj = u[(i + j) * cols + i + j];
            scores[j] = (w[o + i + j] * w[o + i + j]) / (dj * dj);
          }
          keepTopN(scores, 0, p.n, p.m, mask, o + i, order, vals);
        }
        const ui = i * cols;
        const d = u[ui + i];
        const q = mask[o + i] ? w[o + i] : 0;
        const e = (w[o + i] - q) / d;
        loss += (e * e) / 2;
        err[eo + i - i1] = e;
        w[o + i] = q;
        if (e !== 0) for (let k = i + 1; k < i2; k++) w[o + k] -= e * u[ui + k];
      }
    }
    if (i2 < cols) lazyUpdate(w, rows, cols, u, err, block, i1, count, i2);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? w[i] : 0;
  return { mask, weight: out, loss, deadColumns };
}

/**
 * The mask alone (MaskLLM's prior) from a float32 H, factored by the blocked float32 Cholesky on the executor's
 * threads as SparseGPT's reference does on the GPU: what layer-by-layer pruning of large models uses. `hessian` is
 * consumed; `weight` is not changed (dead columns score as zero).
 */
export function sparseGptMaskF32(weight: Float32Array, rows: number, cols: number, hessian: Float32Array, opts: Omit<SparseGptOptions, "update" | "blockSize">, exec: Executor, ws?: CholeskyWorkspace): SparseGptResult {
  const p = opts.pattern;
  assertGroupable(rows, cols, p, "sparsegpt weight");
  if (weight.length !== rows * cols) throw new PruneInputError(`sparsegpt: weight length ${weight.length} != ${rows}×${cols}`);
  if (hessian.length !== cols * cols) throw new PruneInputError(`sparsegpt: hessian length ${hessian.length} != ${cols}×${cols}`);
  const dead = new Uint8Array(cols);
  const deadColumns = dampen(undefined, rows, cols, hessian, opts.percDamp ?? 0.01, dead);
  const d = inverseCholeskyDiagonalF32(hessian, cols, exec, ws);
  const mask = new Uint8Array(rows * cols);
  const loss = maskFromDiagonal(weight, rows, cols, d, p, mask, dead);
  return { mask, loss, deadColumns };
}

/**
 * Dead columns (H_jj = 0: the feature never fired) get H_jj = 1 and their weights zero (in `w`, or flagged in
 * `dead`); then the dampening λ = percDamp·mean(diag H) is added to the diagonal. Returns the dead count.
 */
function dampen(w: Float64Array | undefined, rows: number, cols: number, hessian: Float64Array | Float32Array, percDamp: number, dead?: Uint8Array): number {
  let deadColumns = 0;
  let diagSum = 0;
  for (let j = 0; j < cols; j++) {
    const hjj = hessian[j * cols + j];
    if (!Number.isFinite(hjj) || hjj < 0) throw new PruneInputError(`sparsegpt: H[${j},${j}] = ${hjj}`);
    if (hjj === 0) {
      hessian[j * cols + j] = 1;
      if (w) for (let r = 0; r < rows; r++) w[r * cols + j] = 0;
      if (dead) dead[j] = 1;
      deadColumns++;
    }
    diagSum += hessian[j * cols + j];
  }
  const damp = (percDamp * diagSum) / cols;
  for (let j = 0; j < cols; j++) hessian[j * cols + j] += damp;
  return deadColumns;
}

/** Per group, keep the N best w²/U_jj²; returns SparseGPT's loss Σ pruned w²/U_jj²/2. */
function maskFromDiagonal(w: ArrayLike<number>, rows: number, cols: number, d: Float64Array, p: NMPattern, mask: Uint8Array, dead?: Uint8Array): number {
  const order = new Int32Array(p.m);
  const vals = new Float64Array(p.m);
  const scores = new Float64Array(p.m);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let g = 0; g < cols; g += p.m) {
      for (let j = 0; j < p.m; j++) {
        const x = dead?.[g + j] ? 0 : w[o + g + j];
        scores[j] = (x * x) / (d[g + j] * d[g + j]);
      }
      keepTopN(scores, 0, p.n, p.m, mask, o + g, order, vals);
      for (let j = 0; j < p.m; j++) if (!mask[o + g + j]) loss += scores[j] / 2;
    }
  }
  return loss;
}

/** W[:, from:] −= Err[:, 0:count]·U[i1:i1+count, from:], tiled over columns so the U tile stays in cache. */
function lazyUpdate(w: Float64Array, rows: number, cols: number, u: Float64Array, err: Float64Array, errStride: number, i1: number, count: number, from: number): void {
  const tile = 256;
  for (let c0 = from; c0 < cols; c0 += tile) {
    const c1 = Math.min(c0 + tile, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const eo = r * errStride;
      let k = 0;
      for (; k + 4 <= count; k += 4) {
        const e0 = err[eo + k], e1 = err[eo + k + 1], e2 = err[eo + k + 2], e3 = err[eo + k + 3];
        if (e0 === 0 && e1 === 0 && e2 === 0 && e3 === 0) continue;
        const u0 = (i1 + k) * cols, u1 = u0 + cols, u2 = u1 + cols, u3 = u2 + cols;
        for (let c = c0; c < c1; c++) w[o + c] -= e0 * u[u0 + c] + e1 * u[u1 + c] + e2 * u[u2 + c] + e3 * u[u3 + c];
      }
      for (; k < count; k++) {
        const e = err[eo + k];
        if (e === 0) continue;
        const uk = (i1 + k) * cols;
        for (let c = c0; c < c1; c++) w[o + c] -= e * u[uk + c];
      }
    }
  }
}
