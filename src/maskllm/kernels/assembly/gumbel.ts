// Gumbel noise for MaskLLM's soft masks, in WebAssembly SIMD (AssemblyScript; `npm run build:kernels`).
// Each step needs one Gumbel(0, 1) sample per candidate logit (~340k for stories260K at 2:4); two float64 logs per
// sample in JS took ~15 ms of a step, on the loop's thread while training threads wait for the masks.
//
// Samples come from mulberry32 (the project's generator, rng.ts) as 23-bit uniforms u = (b + ½)·2⁻²³, b = bits >>> 9,
// so u and w = 1 − u are exact in float32 (as float32 uniforms are elsewhere: 24 bits at most). Then E = −log u is
// an Exponential(1) sample, taken as the series w + w²/2 + … + w⁵/5 when w < 1/64 (log u would lose E's digits
// there), and g = −log E.

import { log4 } from "./simd-math";

/** out[0..n) = scale·g for n draws from mulberry32(seed); out must have room for n rounded up to 4. */
export function gumbel(out: usize, n: i32, seed: u32, scale: f32): void {
  let a = seed;
  const half = f32x4.splat(0.5);
  const step = f32x4.splat(1.0 / 8388608.0); // 2⁻²³
  const cut = f32x4.splat(1.0 / 64.0);
  const neg = f32x4.splat(-scale);
  // the bits first, then the lanes: four scalar stores read back as one v128 right away stall store forwarding
  for (let j = 0; j < n; j++) {
    a += 0x6d2b79f5;
    let t = a;
    t = (t ^ (t >>> 15)) * (t | 1);
    t ^= t + (t ^ (t >>> 7)) * (t | 61);
    store<u32>(out + (<usize>j << 2), (t ^ (t >>> 14)) >>> 9);
  }
  for (let j = 0; j < n; j += 4) {
    const at = out + (<usize>j << 2);
    const b = f32x4.convert_i32x4_s(v128.load(at));
    const u = f32x4.mul(f32x4.add(b, half), step);
    const w = f32x4.mul(f32x4.sub(f32x4.splat(8388607.5), b), step);
    // E = −log u = w + w²/2 + w³/3 + w⁴/4 + w⁵/5 + O(w⁶)
    let series = f32x4.splat(0.2);
    series = f32x4.add(f32x4.mul(series, w), f32x4.splat(0.25));
    series = f32x4.add(f32x4.mul(series, w), f32x4.splat(1.0 / 3.0));
    series = f32x4.add(f32x4.mul(series, w), half);
    series = f32x4.add(f32x4.mul(series, w), f32x4.splat(1.0));
    series = f32x4.mul(series, w);
    const e = v128.bitselect(series, f32x4.neg(log4(u)), f32x4.lt(w, cut));
    v128.store(at, f32x4.mul(log4(e), neg));
  }
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
