// The data-free and activation-aware importance scores; the N:M choice itself is nmMaskFromScores.
import { PruneInputError } from "./errors.js";

/** Magnitude: |W_ij|. */
export function magnitudeScores(weight: ArrayLike<number>): Float64Array {
  const s = new Float64Array(weight.length);
  for (let i = 0; i < s.length; i++) s[i] = Math.abs(weight[i]);
  return s;
}

/**
 * Wanda: |W_ij|·‖X_j‖₂ for a [rows, cols] weight, with ‖X_j‖₂² the sum of squares of input feature j over the
 * calibration tokens. Any positive rescaling of the norms (Wanda keeps a running mean) gives the same mask.
 */
export function wandaScores(weight: ArrayLike<number>, rows: number, cols: number, columnSquaredNorms: ArrayLike<number>): Float64Array {
  if (weight.length !== rows * cols) throw new PruneInputError(`wanda: weight length ${weight.length} != ${rows}×${cols}`);
  if (columnSquaredNorms.length !== cols) throw new PruneInputError(`wanda: ${columnSquaredNorms.length} column norms for ${cols} input features`);
  const norms = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    const v = columnSquaredNorms[j];
    if (!(v >= 0) || !Number.isFinite(v)) throw new PruneInputError(`wanda: squared norm of input feature ${j} is ${v}`);
    norms[j] = Math.sqrt(v);
  }
  const s = new Float64Array(weight.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) s[o + j] = Math.abs(weight[o + j]) * norms[j];
  }
  return s;
}
