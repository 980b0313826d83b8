// Next-token cross-entropy over the vocabulary, forward and backward, in WebAssembly SIMD (AssemblyScript;
// `npm run build:kernels`). As TF.js ops the loss needs a one-hot [tokens, vocab] tensor, a softmax, a max and a
// handful of products over [tokens, vocab]; here each row is two passes forward (max, then Σexp) and one backward.
// Pointers are byte offsets into this module's memory; rows are v floats, v a multiple of 4 (other vocabularies
// keep the TF.js path).

import { exp4, hmax, hsum } from "./simd-math";

/**
 * lse[i] = log Σ_j exp(x[i][j]) for each of n rows of v logits; returns Σ_i w[i]·(lse[i] − x[i][t[i]]) over the
 * rows with w[i] != 0 (t: int32 targets).
 */
export function crossEntropyForward(x: usize, t: usize, w: usize, lse: usize, n: i32, v: i32): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i++) {
    const row = x + <usize>(i * v) * 4;
    let mx = f32x4.splat(-Infinity);
    for (let j = 0; j < v; j += 4) mx = f32x4.pmax(mx, v128.load(row + (<usize>j << 2)));
    const m = hmax(mx);
    const mv = f32x4.splat(m);
    let sum = f32x4.splat(0);
    for (let j = 0; j < v; j += 4) sum = f32x4.add(sum, exp4(f32x4.sub(v128.load(row + (<usize>j << 2)), mv)));
    const l: f32 = m + Mathf.log(hsum(sum));
    store<f32>(lse + (<usize>i << 2), l);
    const wi = load<f32>(w + (<usize>i << 2));
    if (wi != 0) total += <f64>wi * <f64>(l - load<f32>(row + (<usize>load<i32>(t + (<usize>i << 2)) << 2)));
  }
  return total;
}

/** dx[i] = scale[i]·(softmax(x[i]) − onehot(t[i])), the softmax from the forward's lse; rows with scale 0 are zero. */
export function crossEntropyBackward(x: usize, t: usize, scale: usize, lse: usize, dx: usize, n: i32, v: i32): void {
  for (let i = 0; i < n; i++) {
    const off = <usize>(i * v) * 4;
    const s = load<f32>(scale + (<usize>i << 2));
    const sv = f32x4.splat(s);
    const lv = f32x4.splat(load<f32>(lse + (<usize>i << 2)));
    if (s == 0) {
      for (let j = 0; j < v; j += 4) v128.store(dx + off + (<usize>j << 2), f32x4.splat(0));
      continue;
    }
    for (let j = 0; j < v; j += 4) {
      const o = off + (<usize>j << 2);
      v128.store(dx + o, f32x4.mul(exp4(f32x4.sub(v128.load(x + o), lv)), sv));
    }
    const at = dx + off + (<usize>load<i32>(t + (<usize>i << 2)) << 2);
    store<f32>(at, load<f32>(at) - s);
  }
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
