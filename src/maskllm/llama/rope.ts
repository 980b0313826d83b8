import * as tf from "@tensorflow/tfjs";
import { matMul2d } from "./matmul.js";

// Rotary position embedding in HF's rotate-half layout: out = x·cos + rotate_half(x)·sin with
// rotate_half(x) = [-x₂, x₁]. rotate_half is a product with a signed permutation matrix: on WASM a tiny
// [headDim, headDim] matMul is much cheaper than split + concat along the last axis. Tables depend only on
// (seq, headDim, theta, scale); they are built once and kept for the process.

interface RopeTables {
  cos: tf.Tensor2D; // [seq, headDim]
  sin: tf.Tensor2D; // [seq, headDim]
  rotate: tf.Tensor2D; // [headDim, headDim]: x·rotate = rotate_half(x)
}

const tables = new Map<string, RopeTables>();
const values = new Map<string, { cos: Float32Array; sin: Float32Array }>();

/** The cos/sin tables' values [seq, headDim] (positions 0..seq-1, `scale` multiplied in), built once per shape. */
export function ropeTableValues(seq: number, headDim: number, theta: number, scale = 1): { cos: Float32Array; sin: Float32Array } {
  const key = `${seq}:${headDim}:${theta}:${scale}`;
  let t = values.get(key);
  if (t) return t;
  const half = headDim / 2;
  const cos = new Float32Array(seq * headDim);
  const sin = new Float32Array(seq * headDim);
  for (let i = 0; i < half; i++) {
    // HF computes inv_freq and the angles in float32; Math.fround keeps the angles identical
    const invFreq = Math.fround(1 / Math.pow(theta, (2 * i) / headDim));
    for (let p = 0; p < seq; p++) {
      const a = Math.fround(p * invFreq);
      const c = Math.cos(a) * scale;
      const s = Math.sin(a) * scale;
      cos[p * headDim + i] = c;
      cos[p * headDim + half + i] = c;
      sin[p * headDim + i] = s;
      sin[p * headDim + half + i] = s;
    }
  }
  t = { cos, sin };
  values.set(key, t);
  return t;
}

/** cos/sin tables for positions 0..seq-1; `scale` is multiplied in (the attention 1/√d folded into q for free). */
export function ropeTables(seq: number, headDim: number, theta: number, scale = 1): RopeTables {
  const key = `${seq}:${headDim}:${theta}:${scale}`;
  let t = tables.get(key);
  if (t) return t;
  const { cos, sin } = ropeTableValues(seq, headDim, theta, scale);
  const half = headDim / 2;
  const r = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    r[(i + half) * headDim + i] = -1; // out[i] = -x[i + half]
    r[i * headDim + i + half] = 1; // out[i + half] = x[i]
  }
  t = {
    cos: tf.keep(tf.tensor2d(cos, [seq, headDim])),
    sin: tf.keep(tf.tensor2d(sin, [seq, headDim])),
    rotate: tf.keep(tf.tensor2d(r, [headDim, headDim])),
  };
  tables.set(key, t);
  return t;
}

/** x: [..., seq, headDim] → x·cos + rotate_half(x)·sin. */
export function applyRope<T extends tf.Tensor>(x: T, t: RopeTables): T {
  return tf.tidy(() => {
    const hd = x.shape[x.rank - 1];
    const rotated = tf.reshape(matMul2d(tf.reshape(x, [-1, hd]) as tf.Tensor2D, t.rotate), x.shape);
    return tf.add(tf.mul(x, t.cos), tf.mul(rotated, t.sin)) as T;
  });
}

/** Frees the cached tables (tests that count tensors, or a process switching models). */
export function clearRopeCache(): void {
  for (const t of tables.values()) tf.dispose([t.cos, t.sin, t.rotate]);
  tables.clear();
  values.clear();
}
