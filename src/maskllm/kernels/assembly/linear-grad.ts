// The masked weights' gradient of a linear layer, in WebAssembly SIMD (AssemblyScript; `npm run build:kernels`):
// g[o][i] = Σ_t dy[t][o]·x[t][i] · w[o][i], straight from the activations x [T, in] and dy [T, out] as the layer
// holds them. Through TF.js this is a product whose operands both need a transpose, and XNNPACK repacks its right
// operand (T × in or T × out values, ~2.7 ns each) before multiplying: for MaskLLM's [in ≈ 64, out ≈ 172] layers
// that overhead is as large as the product. Here blocks of 4 outputs × 8 inputs stay in eight v128 accumulators
// while t runs over the tokens. in must be a multiple of 4. Pointers are byte offsets into this module's memory.

// @ts-ignore: decorator
@inline
function block4x8(x: usize, dy: usize, w: usize, g: usize, tokens: i32, inDim: i32, outDim: i32, o0: i32, i0: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  const xs = <usize>inDim << 2;
  const ds = <usize>outDim << 2;
  let xp = x + (<usize>i0 << 2);
  let dp = dy + (<usize>o0 << 2);
  for (let t = 0; t < tokens; t++, xp += xs, dp += ds) {
    const xa = v128.load(xp);
    const xb = v128.load(xp, 16);
    const s0 = v128.load32_splat(dp);
    const s1 = v128.load32_splat(dp, 4);
    const s2 = v128.load32_splat(dp, 8);
    const s3 = v128.load32_splat(dp, 12);
    a0 = f32x4.add(a0, f32x4.mul(s0, xa));
    a1 = f32x4.add(a1, f32x4.mul(s0, xb));
    b0 = f32x4.add(b0, f32x4.mul(s1, xa));
    b1 = f32x4.add(b1, f32x4.mul(s1, xb));
    c0 = f32x4.add(c0, f32x4.mul(s2, xa));
    c1 = f32x4.add(c1, f32x4.mul(s2, xb));
    d0 = f32x4.add(d0, f32x4.mul(s3, xa));
    d1 = f32x4.add(d1, f32x4.mul(s3, xb));
  }
  const row = <usize>inDim << 2;
  const at = <usize>(o0 * inDim + i0) << 2;
  v128.store(g + at, f32x4.mul(a0, v128.load(w + at)));
  v128.store(g + at, f32x4.mul(a1, v128.load(w + at, 16)), 16);
  v128.store(g + at + row, f32x4.mul(b0, v128.load(w + at + row)));
  v128.store(g + at + row, f32x4.mul(b1, v128.load(w + at + row, 16)), 16);
  v128.store(g + at + 2 * row, f32x4.mul(c0, v128.load(w + at + 2 * row)));
  v128.store(g + at + 2 * row, f32x4.mul(c1, v128.load(w + at + 2 * row, 16)), 16);
  v128.store(g + at + 3 * row, f32x4.mul(d0, v128.load(w + at + 3 * row)));
  v128.store(g + at + 3 * row, f32x4.mul(d1, v128.load(w + at + 3 * row, 16)), 16);
}

/** One output row o by 4 inputs i0..i0+3 (the edges the 4×8 blocks leave). */
// @ts-ignore: decorator
@inline
function block1x4(x: usize, dy: usize, w: usize, g: usize, tokens: i32, inDim: i32, outDim: i32, o: i32, i0: i32): void {
  let acc = f32x4.splat(0);
  const xs = <usize>inDim << 2;
  const ds = <usize>outDim << 2;
  let xp = x + (<usize>i0 << 2);
  let dp = dy + (<usize>o << 2);
  for (let t = 0; t < tokens; t++, xp += xs, dp += ds) acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(dp), v128.load(xp)));
  const at = <usize>(o * inDim + i0) << 2;
  v128.store(g + at, f32x4.mul(acc, v128.load(w + at)));
}

/** g [out, in] = (dyᵀ·x) ⊙ w for x [tokens, in], dy [tokens, out], w [out, in]; in % 4 == 0. */
export function maskedWeightGrad(x: usize, dy: usize, w: usize, g: usize, tokens: i32, inDim: i32, outDim: i32): void {
  const o4 = outDim & ~3;
  const i8 = inDim & ~7;
  for (let o0 = 0; o0 < o4; o0 += 4) {
    for (let i0 = 0; i0 < i8; i0 += 8) block4x8(x, dy, w, g, tokens, inDim, outDim, o0, i0);
    if (i8 < inDim) for (let o = o0; o < o0 + 4; o++) block1x4(x, dy, w, g, tokens, inDim, outDim, o, i8);
  }
  for (let o = o4; o < outDim; o++) for (let i0 = 0; i0 < inDim; i0 += 4) block1x4(x, dy, w, g, tokens, inDim, outDim, o, i0);
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
