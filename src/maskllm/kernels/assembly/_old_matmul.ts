// Products for the linear layers, in WebAssembly SIMD (AssemblyScript; `npm run build:kernels`).
//
// gemm: C = A·B for row-major A [m, k], B [k, n]. XNNPACK (TF.js's wasm matmul) repacks B on every call, as it is
// built for constant weights; our B changes every step (masked weights) or is an activation. Measured about 1.3×
// XNNPACK's rate for stories260K's shapes (43-47 against 33-35 GFLOP/s).
//
// maskedWeightGrad: the masked weights' gradient of a linear layer, g[o][i] = Σ_t dy[t][o]·x[t][i] · w[o][i],
// straight from the activations x [T, in] and dy [T, out] as the layer holds them. Through TF.js this is a product
// whose operands both need a transpose, with a repacked right operand (T × in or T × out values, ~2.7 ns each): for
// MaskLLM's [in ≈ 64, out ≈ 172] layers that overhead was as large as the product.
//
// Both are one loop: tiles of 4 rows × 8 columns of C stay in eight v128 accumulators while r runs over the shared
// dimension, each step splatting four values of A and loading two vectors of B's row r. A is read through strides,
// so dyᵀ needs no transpose. Pointers and strides are in bytes, into this module's memory.

// C[p][q] (+)= Σ_r A(p, r)·B[r][q] for p in p0..p0+3, q in q0..q0+7, A(p, r) at a + p·ap + r·ar, B[r] at b + r·bs,
// C[p] at c + p·cs; with `masked`, each C value is multiplied by mask[p][q] (mask laid out as C).
// @ts-ignore: decorator
@inline
function tile4x8(a: usize, ap: usize, ar: usize, b: usize, bs: usize, c: usize, cs: usize, mask: usize, masked: bool, k: i32, p0: i32, q0: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  let pa = a + <usize>p0 * ap;
  let pb = b + (<usize>q0 << 2);
  for (let r = 0; r < k; r++, pa += ar, pb += bs) {
    const x0 = v128.load(pb);
    const x1 = v128.load(pb, 16);
    const s0 = v128.load32_splat(pa);
    const s1 = v128.load32_splat(pa + ap);
    const s2 = v128.load32_splat(pa + 2 * ap);
    const s3 = v128.load32_splat(pa + 3 * ap);
    a0 = f32x4.add(a0, f32x4.mul(s0, x0));
    a1 = f32x4.add(a1, f32x4.mul(s0, x1));
    b0 = f32x4.add(b0, f32x4.mul(s1, x0));
    b1 = f32x4.add(b1, f32x4.mul(s1, x1));
    c0 = f32x4.add(c0, f32x4.mul(s2, x0));
    c1 = f32x4.add(c1, f32x4.mul(s2, x1));
    d0 = f32x4.add(d0, f32x4.mul(s3, x0));
    d1 = f32x4.add(d1, f32x4.mul(s3, x1));
  }
  const at = <usize>p0 * cs + (<usize>q0 << 2);
  if (masked) {
    a0 = f32x4.mul(a0, v128.load(mask + at));
    a1 = f32x4.mul(a1, v128.load(mask + at, 16));
    b0 = f32x4.mul(b0, v128.load(mask + at + cs));
    b1 = f32x4.mul(b1, v128.load(mask + at + cs, 16));
    c0 = f32x4.mul(c0, v128.load(mask + at + 2 * cs));
    c1 = f32x4.mul(c1, v128.load(mask + at + 2 * cs, 16));
    d0 = f32x4.mul(d0, v128.load(mask + at + 3 * cs));
    d1 = f32x4.mul(d1, v128.load(mask + at + 3 * cs, 16));
  }
  v128.store(c + at, a0);
  v128.store(c + at, a1, 16);
  v128.store(c + at + cs, b0);
  v128.store(c + at + cs, b1, 16);
  v128.store(c + at + 2 * cs, c0);
  v128.store(c + at + 2 * cs, c1, 16);
  v128.store(c + at + 3 * cs, d0);
  v128.store(c + at + 3 * cs, d1, 16);
}

// One row p, columns q0..q0+3, of which the first `width` are stored (the right edge). B's and the mask's rows are
// read up to 3 values past their end: the caller leaves 16 bytes after each.
// @ts-ignore: decorator
@inline
function tile1x4(a: usize, ap: usize, ar: usize, b: usize, bs: usize, c: usize, cs: usize, mask: usize, masked: bool, k: i32, p: i32, q0: i32, width: i32): void {
  let acc = f32x4.splat(0);
  let pa = a + <usize>p * ap;
  let pb = b + (<usize>q0 << 2);
  for (let r = 0; r < k; r++, pa += ar, pb += bs) acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(pa), v128.load(pb)));
  const at = <usize>p * cs + (<usize>q0 << 2);
  if (masked) acc = f32x4.mul(acc, v128.load(mask + at));
  if (width >= 4) v128.store(c + at, acc);
  else {
    store<f32>(c + at, f32x4.extract_lane(acc, 0));
    if (width > 1) store<f32>(c + at, f32x4.extract_lane(acc, 1), 4);
    if (width > 2) store<f32>(c + at, f32x4.extract_lane(acc, 2), 8);
  }
}

// C [m, n] over a shared dimension k: 4×8 tiles, then the columns past the last 8-tile of every row and every column
// of the rows past the last 4-tile in 1×4 tiles
// @ts-ignore: decorator
@inline
function product(a: usize, ap: usize, ar: usize, b: usize, bs: usize, c: usize, cs: usize, mask: usize, masked: bool, m: i32, k: i32, n: i32): void {
  const m4 = m & ~3;
  const n8 = n & ~7;
  for (let p0 = 0; p0 < m4; p0 += 4) for (let q0 = 0; q0 < n8; q0 += 8) tile4x8(a, ap, ar, b, bs, c, cs, mask, masked, k, p0, q0);
  for (let p = 0; p < m; p++)
    for (let q0 = p < m4 ? n8 : 0; q0 < n; q0 += 4) tile1x4(a, ap, ar, b, bs, c, cs, mask, masked, k, p, q0, min(4, n - q0));
}

/** C [m, n] = A [m, k] · B [k, n], row-major; B must be followed by 16 readable bytes. */
export function gemm(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  product(a, <usize>k << 2, 4, b, <usize>n << 2, c, <usize>n << 2, 0, false, m, k, n);
}

/** g [out, in] = (dyᵀ·x) ⊙ w for x [tokens, in], dy [tokens, out], w [out, in]; x and w followed by 16 bytes. */
export function maskedWeightGrad(x: usize, dy: usize, w: usize, g: usize, tokens: i32, inDim: i32, outDim: i32): void {
  product(dy, 4, <usize>outDim << 2, x, <usize>inDim << 2, g, <usize>inDim << 2, w, true, outDim, tokens, inDim);
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
