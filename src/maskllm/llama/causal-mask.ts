import * as tf from "@tensorflow/tfjs";

// Additive causal mask for scores laid out [groups·seq, seq] (grouped-query heads stacked along the query axis):
// row r is query position r mod seq. Built once per (seq, groups) and kept; -1e9 rather than -Infinity so that
// a fully masked row (never the case here: the diagonal is kept) could not turn into NaN.
const masks = new Map<string, tf.Tensor2D>();

export function causalMask(seq: number, groups: number): tf.Tensor2D {
  const key = `${seq}:${groups}`;
  let m = masks.get(key);
  if (m) return m;
  const v = new Float32Array(groups * seq * seq);
  for (let r = 0; r < groups * seq; r++) {
    const pos = r % seq;
    for (let c = pos + 1; c < seq; c++) v[r * seq + c] = -1e9;
  }
  m = tf.keep(tf.tensor2d(v, [groups * seq, seq]));
  masks.set(key, m);
  return m;
}

export function clearCausalMaskCache(): void {
  for (const m of masks.values()) m.dispose();
  masks.clear();
}
