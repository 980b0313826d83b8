// Elementwise layers of the LLaMA block, forward and backward, in WebAssembly SIMD (AssemblyScript;
// `npm run build:kernels`): RMSNorm and SwiGLU. As TF.js ops each is 3-8 kernels over [tokens, width] tensors, and
// the wasm backend runs broadcasting products (x · rsqrt(mean x²) per row) as generic scalar loops; here each is one
// pass over the rows (two for RMSNorm's backward). Pointers are byte offsets into this module's memory.

import { exp4, hsum } from "./simd-math";

/** LlamaRMSNorm: y = x·r·w per row with r = 1/√(mean(x²) + eps); x, y [rows, n], w [n]; keeps r [rows]. */
export function rmsNormForward(x: usize, w: usize, y: usize, r: usize, rows: i32, n: i32, eps: f32): void {
  const n4 = n & ~3;
  for (let i = 0; i < rows; i++) {
    const xr = x + (<usize>(i * n) << 2);
    const yr = y + (<usize>(i * n) << 2);
    let acc = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const v = v128.load(xr + (<usize>j << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let ss = hsum(acc);
    for (let j = n4; j < n; j++) {
      const v = load<f32>(xr + (<usize>j << 2));
      ss += v * v;
    }
    const rr: f32 = 1 / Mathf.sqrt(ss / <f32>n + eps);
    store<f32>(r + (<usize>i << 2), rr);
    const rv = f32x4.splat(rr);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), rv), v128.load(w + o)));
    }
    for (let j = n4; j < n; j++) store<f32>(yr + (<usize>j << 2), load<f32>(xr + (<usize>j << 2)) * rr * load<f32>(w + (<usize>j << 2)));
  }
}

/**
 * Its backward given dy: with g = dy⊙w, dx = r·g − x·r³·mean(g⊙x) per row, and dw = Σ_rows dy⊙x·r. dw must have
 * room for n rounded up to 4.
 */
export function rmsNormBackward(x: usize, w: usize, r: usize, dy: usize, dx: usize, dw: usize, rows: i32, n: i32): void {
  const n4 = n & ~3;
  for (let j = 0; j < n; j += 4) v128.store(dw + (<usize>j << 2), f32x4.splat(0));
  for (let i = 0; i < rows; i++) {
    const off = <usize>(i * n) << 2;
    const xr = x + off;
    const dyr = dy + off;
    const dxr = dx + off;
    const rr = load<f32>(r + (<usize>i << 2));
    let acc = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(dyr + o), v128.load(w + o)), v128.load(xr + o)));
    }
    let s = hsum(acc);
    for (let j = n4; j < n; j++) s += load<f32>(dyr + (<usize>j << 2)) * load<f32>(w + (<usize>j << 2)) * load<f32>(xr + (<usize>j << 2));
    const c: f32 = (rr * rr * rr * s) / <f32>n;
    const rv = f32x4.splat(rr);
    const cv = f32x4.splat(c);
    for (let j = 0; j < n4; j += 4) {
      const o = <usize>j << 2;
      const xv = v128.load(xr + o);
      const dyv = v128.load(dyr + o);
      v128.store(dxr + o, f32x4.sub(f32x4.mul(f32x4.mul(dyv, v128.load(w + o)), rv), f32x4.mul(xv, cv)));
      v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(f32x4.mul(dyv, xv), rv)));
    }
    for (let j = n4; j < n; j++) {
      const o = <usize>j << 2;
      const xv = load<f32>(xr + o);
      const dyv = load<f32>(dyr + o);
      store<f32>(dxr + o, dyv * load<f32>(w + o) * rr - xv * c);
      store<f32>(dw + o, load<f32>(dw + o) + dyv * xv * rr);
    }
  }
}

// σ(g) = 1 / (1 + exp(−g)) over four lanes
// @ts-ignore: decorator
@inline
function sigmoid4(g: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(g))));
}

/**
 * LlamaMLP's activation: h = silu(g)⊙u = g·σ(g)·u over n values (buffers have room for n rounded up to 4). Keeps
 * s = σ(g): the exp and the division are most of the cost, and the backward needs them again.
 */
export function swigluForward(g: usize, u: usize, h: usize, s: usize, n: i32): void {
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const gv = v128.load(g + o);
    const sv = sigmoid4(gv);
    v128.store(s + o, sv);
    v128.store(h + o, f32x4.mul(f32x4.mul(gv, sv), v128.load(u + o)));
  }
}

/** Its backward, from the kept s = σ(g): du = dh·g·s, dg = dh·u·s·(1 + g·(1 − s)). */
export function swigluBackward(g: usize, u: usize, sg: usize, dh: usize, dg: usize, du: usize, n: i32): void {
  const one = f32x4.splat(1);
  for (let j = 0; j < n; j += 4) {
    const o = <usize>j << 2;
    const gv = v128.load(g + o);
    const s = v128.load(sg + o);
    const dhv = v128.load(dh + o);
    v128.store(du + o, f32x4.mul(dhv, f32x4.mul(gv, s)));
    v128.store(dg + o, f32x4.mul(f32x4.mul(dhv, v128.load(u + o)), f32x4.mul(s, f32x4.add(one, f32x4.mul(gv, f32x4.sub(one, s))))));
  }
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
