// Products for the linear layers, in WebAssembly SIMD (AssemblyScript; `npm run build:kernels`).
//
// gemm: C = A·B for row-major A [m, k], B [k, n]. XNNPACK (TF.js's wasm matmul) repacks B on every call, as it is
// built for constant weights; our B changes every step (masked weights) or is an activation. Blocks of 4 rows × 8
// columns of C stay in eight v128 accumulators while r runs over k: four splatted values of A and two vectors of
// B's row r per step. Measured about 1.3× XNNPACK's rate for stories260K's shapes (43-47 against 33-35 GFLOP/s).
//
// maskedWeightGrad: the masked weights' gradient of a linear layer:
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

// C rows p0..p0+R−1 (R = 4 or 1), columns q0..q0+7, over all k
// @ts-ignore: decorator
@inline
function gemm4x8(a: usize, b: usize, c: usize, k: i32, n: i32, p0: i32, q0: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  const rowA = <usize>k << 2;
  const rowB = <usize>n << 2;
  let ap = a + <usize>(p0 * k) * 4;
  let bp = b + (<usize>q0 << 2);
  for (let r = 0; r < k; r++, ap += 4, bp += rowB) {
    const x0 = v128.load(bp);
    const x1 = v128.load(bp, 16);
    const s0 = v128.load32_splat(ap);
    const s1 = v128.load32_splat(ap + rowA);
    const s2 = v128.load32_splat(ap + 2 * rowA);
    const s3 = v128.load32_splat(ap + 3 * rowA);
    a0 = f32x4.add(a0, f32x4.mul(s0, x0));
    a1 = f32x4.add(a1, f32x4.mul(s0, x1));
    b0 = f32x4.add(b0, f32x4.mul(s1, x0));
    b1 = f32x4.add(b1, f32x4.mul(s1, x1));
    c0 = f32x4.add(c0, f32x4.mul(s2, x0));
    c1 = f32x4.add(c1, f32x4.mul(s2, x1));
    d0 = f32x4.add(d0, f32x4.mul(s3, x0));
    d1 = f32x4.add(d1, f32x4.mul(s3, x1));
  }
  const at = c + (<usize>(p0 * n + q0) << 2);
  v128.store(at, a0);
  v128.store(at, a1, 16);
  v128.store(at + rowB, b0);
  v128.store(at + rowB, b1, 16);
  v128.store(at + 2 * rowB, c0);
  v128.store(at + 2 * rowB, c1, 16);
  v128.store(at + 3 * rowB, d0);
  v128.store(at + 3 * rowB, d1, 16);
}

// C row p, columns q0..q0+3 (only the first `width` stored: the right edge); B is read up to 3 values past a row,
// so the caller leaves 16 bytes after B
// @ts-ignore: decorator
@inline
function gemm1x4(a: usize, b: usize, c: usize, k: i32, n: i32, p: i32, q0: i32, width: i32): void {
  let acc = f32x4.splat(0);
  const rowB = <usize>n << 2;
  let ap = a + <usize>(p * k) * 4;
  let bp = b + (<usize>q0 << 2);
  for (let r = 0; r < k; r++, ap += 4, bp += rowB) acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(ap), v128.load(bp)));
  const at = c + (<usize>(p * n + q0) << 2);
  if (width >= 4) v128.store(at, acc);
  else {
    store<f32>(at, f32x4.extract_lane(acc, 0));
    if (width > 1) store<f32>(at, f32x4.extract_lane(acc, 1), 4);
    if (width > 2) store<f32>(at, f32x4.extract_lane(acc, 2), 8);
  }
}

/** C [m, n] = A [m, k] · B [k, n], row-major; B must be followed by 16 readable bytes. */
export function gemm(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  const m4 = m & ~3;
  const n8 = n & ~7;
  for (let p0 = 0; p0 < m4; p0 += 4) for (let q0 = 0; q0 < n8; q0 += 8) gemm4x8(a, b, c, k, n, p0, q0);
  for (let p = 0; p < m; p++) {
    // the columns past the last 8-block for every row, then every column of the rows past the last 4-block
    for (let q0 = p < m4 ? n8 : 0; q0 < n; q0 += 4) gemm1x4(a, b, c, k, n, p, q0, min(4, n - q0));
  }
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
