// Long file: one concept, the blocked GEMM that all linear products share (packers, 4×8 tile, block loop).
// Products for the linear layers, in WebAssembly SIMD (AssemblyScript; `npm run build:kernels`).
//
// Every product C [m, n] = A·B runs one cache-blocked loop, as GotoBLAS/BLIS do: the shared dimension in slices of
// KC, C's rows in blocks of MC whose A slice is packed into 4-row micro-panels (KC·MC floats, L2-resident), and B
// packed once per call into 8-column panels (each panel's KC rows, 8 KiB, stay in L1 while a block of A streams
// past). The 4×8 register tile keeps eight v128 accumulators while r runs over the slice, splatting four values of A
// and loading two vectors of B a step. Unblocked, B (up to MBs for 25M+-parameter models) was re-read from memory
// for every four rows of A: 16-18 against 30-32 GFLOP/s blocked on 1024×768×2048 here.
//
// What differs between the products is only how A is read (strides) and how B is packed:
//   packForward + gemmPacked    y = x·(w ⊙ M̃)ᵀ, B packed from w [out, in] read transposed;
//   packInputGrad + gemmPacked  dx = dy·(w ⊙ M̃), B packed from w [out, in] as it is (a plain C = A·B too);
//   maskedWeightGrad            g = (dyᵀ·x) ⊙ w, A = dyᵀ read through strides, an epilogue multiplying by w;
//   headLossWindow              the lm_head's two products around the loss, for one window.
// M̃ is given, or formed from ỹ while packing, so the masked weights are never materialised. Pointers are byte
// offsets into this module's memory; scratch sizes come from packScratchBytes and packedBytes.

import { crossEntropyBackward, crossEntropyForward } from "./loss";

const KC = 256;
const MC = 96;

// B packed: panel j (columns 8j..8j+7, zero past n) holds k rows of 8 floats at bp + j·k·32.
// @ts-ignore: decorator
@inline
function panelBytes(k: i32): usize {
  return <usize>k << 5;
}

/** Bytes of scratch a product of these sizes needs: B's panels and one packed block of A. */
export function packScratchBytes(m: i32, k: i32, n: i32): usize {
  const panels = <usize>((n + 7) >> 3);
  const rows = <usize>((min(m, MC) + 3) & ~3);
  return panels * panelBytes(k) + 128 + rows * <usize>min(k, KC) * 4;
}

// The mask of a masked linear is never stored: M̃ at (o, i) is Σ_c ỹ[g][c]·S[c][i mod M] for the group g of that
// weight (g = (o·in + i)/M), formed four positions at a time while B is packed (probs [groups, C], S [C, M], M a
// multiple of 4). For 2:4 that is six splat-multiply-adds per four weights, against ~2·tokens flops per weight of
// the product it feeds.
// @ts-ignore: decorator
@inline
function softMask4(probs: usize, s: usize, c: i32, m: i32, at: i32): v128 {
  const g = at / m;
  const pos = at - g * m;
  const pr = probs + (<usize>(g * c) << 2);
  const sp = s + (<usize>pos << 2);
  let acc = f32x4.mul(v128.load32_splat(pr), v128.load(sp));
  for (let j = 1; j < c; j++) acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(pr + (<usize>j << 2)), v128.load(sp + (<usize>(j * m) << 2))));
  return acc;
}

// B = W ⊙ M̃ for W [k, n] (k = out, n = in) with M̃ from probs (softMask4) → panels. n is a multiple of M.
function packRowsSoft(w: usize, probs: usize, s: usize, c: i32, m: i32, k: i32, n: i32, bp: usize): void {
  const panels = (n + 7) >> 3;
  for (let j = 0; j < panels; j++) {
    const q0 = j << 3;
    let dst = bp + <usize>j * panelBytes(k);
    const two = q0 + 8 <= n;
    for (let r = 0; r < k; r++, dst += 32) {
      const at = r * n + q0;
      const src = w + (<usize>at << 2);
      v128.store(dst, f32x4.mul(v128.load(src), softMask4(probs, s, c, m, at)));
      v128.store(dst, two ? f32x4.mul(v128.load(src, 16), softMask4(probs, s, c, m, at + 4)) : f32x4.splat(0), 16);
    }
  }
}

// Four consecutive values of one row of W down one column of a panel (rows of a panel are 32 bytes apart).
// @ts-ignore: decorator
@inline
function storeDown4(d: usize, v: v128): void {
  store<f32>(d, f32x4.extract_lane(v, 0));
  store<f32>(d + 32, f32x4.extract_lane(v, 1));
  store<f32>(d + 64, f32x4.extract_lane(v, 2));
  store<f32>(d + 96, f32x4.extract_lane(v, 3));
}

// B = (W ⊙ M̃)ᵀ for W [n, k] (n = out, k = in) with M̃ from probs → panels: panel j gathers 8 rows of W.
function packTransposedSoft(w: usize, probs: usize, s: usize, c: i32, m: i32, k: i32, n: i32, bp: usize): void {
  const panels = (n + 7) >> 3;
  const rs = <usize>k << 2;
  for (let j = 0; j < panels; j++) {
    const q0 = j << 3;
    const width = min(8, n - q0);
    const dst = bp + <usize>j * panelBytes(k);
    if (width < 8) memory.fill(dst, 0, panelBytes(k));
    for (let q = 0; q < width; q++) {
      const row = q0 + q;
      const src = w + <usize>row * rs;
      let d = dst + (<usize>q << 2);
      for (let r = 0; r < k; r += 4, d += 128) storeDown4(d, f32x4.mul(v128.load(src + (<usize>r << 2)), softMask4(probs, s, c, m, row * k + r)));
    }
  }
}

// B [k, n] with row stride bs bytes (and optionally a mask laid out the same) → panels.
function packRows(b: usize, bs: usize, mask: usize, masked: bool, k: i32, n: i32, bp: usize): void {
  const panels = (n + 7) >> 3;
  for (let j = 0; j < panels; j++) {
    const q0 = j << 3;
    const width = min(8, n - q0);
    let dst = bp + <usize>j * panelBytes(k);
    if (width == 8) {
      for (let r = 0; r < k; r++, dst += 32) {
        const src = b + <usize>r * bs + (<usize>q0 << 2);
        let v0 = v128.load(src);
        let v1 = v128.load(src, 16);
        if (masked) {
          const ms = mask + <usize>r * bs + (<usize>q0 << 2);
          v0 = f32x4.mul(v0, v128.load(ms));
          v1 = f32x4.mul(v1, v128.load(ms, 16));
        }
        v128.store(dst, v0);
        v128.store(dst, v1, 16);
      }
    } else {
      for (let r = 0; r < k; r++, dst += 32) {
        v128.store(dst, f32x4.splat(0));
        v128.store(dst, f32x4.splat(0), 16);
        const src = b + <usize>r * bs + (<usize>q0 << 2);
        const ms = mask + <usize>r * bs + (<usize>q0 << 2);
        for (let q = 0; q < width; q++) {
          let v = load<f32>(src + (<usize>q << 2));
          if (masked) v *= load<f32>(ms + (<usize>q << 2));
          store<f32>(dst + (<usize>q << 2), v);
        }
      }
    }
  }
}

// B = Wᵀ for W [n, k] row-major (optionally ⊙ mask, laid out as W) → panels: panel j gathers 8 rows of W.
function packTransposed(w: usize, mask: usize, masked: bool, k: i32, n: i32, bp: usize): void {
  const panels = (n + 7) >> 3;
  const rs = <usize>k << 2;
  for (let j = 0; j < panels; j++) {
    const q0 = j << 3;
    const width = min(8, n - q0);
    const dst = bp + <usize>j * panelBytes(k);
    if (width < 8) memory.fill(dst, 0, panelBytes(k));
    for (let q = 0; q < width; q++) {
      const src = w + <usize>(q0 + q) * rs;
      const ms = mask + <usize>(q0 + q) * rs;
      let d = dst + (<usize>q << 2);
      let r = 0;
      for (; r + 4 <= k; r += 4, d += 128) {
        const v = v128.load(src + (<usize>r << 2));
        storeDown4(d, masked ? f32x4.mul(v, v128.load(ms + (<usize>r << 2))) : v);
      }
      for (; r < k; r++, d += 32) store<f32>(d, masked ? load<f32>(src + (<usize>r << 2)) * load<f32>(ms + (<usize>r << 2)) : load<f32>(src + (<usize>r << 2)));
    }
  }
}

// A's rows p0..p0+rows-1 (zero past m), columns r0..r0+kl-1, read as A(p, r) at a + p·ap + r·ar, into 4-row
// micro-panels: panel i holds kl steps of 4 floats at ap4 + i·kl·16.
function packA(a: usize, ap: usize, ar: usize, m: i32, p0: i32, rows: i32, r0: i32, kl: i32, dst: usize): void {
  for (let i = 0; i < rows; i += 4) {
    let d = dst + <usize>(i >> 2) * (<usize>kl << 4);
    for (let l = 0; l < 4; l++) {
      const p = p0 + i + l;
      let dd = d + (<usize>l << 2);
      if (p >= m) {
        for (let r = 0; r < kl; r++, dd += 16) store<f32>(dd, 0);
        continue;
      }
      let src = a + <usize>p * ap + <usize>r0 * ar;
      if (ar == 4) {
        let r = 0;
        for (; r + 4 <= kl; r += 4, dd += 64, src += 16) {
          const v = v128.load(src);
          store<f32>(dd, f32x4.extract_lane(v, 0));
          store<f32>(dd + 16, f32x4.extract_lane(v, 1));
          store<f32>(dd + 32, f32x4.extract_lane(v, 2));
          store<f32>(dd + 48, f32x4.extract_lane(v, 3));
        }
        for (; r < kl; r++, dd += 16, src += 4) store<f32>(dd, load<f32>(src));
      } else for (let r = 0; r < kl; r++, dd += 16, src += ar) store<f32>(dd, load<f32>(src));
    }
  }
}

// acc + a·b: fused where the module is built with relaxed SIMD (scripts/kernels.ts builds matmul both ways; the
// loader takes the FMA build where the runtime allows it). The tile is issue-bound, and one instruction instead of
// two per product step is what speeds it up (the CPU's multiply and add pipes alone would not).
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

// One 4×8 tile of C at rows p..p+3 (valid: `rows`), columns q0..q0+7 (valid: `cols`), from a packed A micro-panel
// and a B panel over kl steps. first: store (else add to C); last && masked: multiply by mask (laid out as C).
// @ts-ignore: decorator
@inline
function tile(pa: usize, pb: usize, kl: i32, c: usize, cs: usize, mask: usize, masked: bool, first: bool, last: bool, rows: i32, cols: i32, spill: usize): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  for (let r = 0; r < kl; r++, pa += 16, pb += 32) {
    const x0 = v128.load(pb);
    const x1 = v128.load(pb, 16);
    const s0 = v128.load32_splat(pa);
    const s1 = v128.load32_splat(pa, 4);
    const s2 = v128.load32_splat(pa, 8);
    const s3 = v128.load32_splat(pa, 12);
    a0 = madd(s0, x0, a0);
    a1 = madd(s0, x1, a1);
    b0 = madd(s1, x0, b0);
    b1 = madd(s1, x1, b1);
    c0 = madd(s2, x0, c0);
    c1 = madd(s2, x1, c1);
    d0 = madd(s3, x0, d0);
    d1 = madd(s3, x1, d1);
  }
  if (rows == 4 && cols == 8) {
    if (!first) {
      a0 = f32x4.add(a0, v128.load(c));
      a1 = f32x4.add(a1, v128.load(c, 16));
      b0 = f32x4.add(b0, v128.load(c + cs));
      b1 = f32x4.add(b1, v128.load(c + cs, 16));
      c0 = f32x4.add(c0, v128.load(c + 2 * cs));
      c1 = f32x4.add(c1, v128.load(c + 2 * cs, 16));
      d0 = f32x4.add(d0, v128.load(c + 3 * cs));
      d1 = f32x4.add(d1, v128.load(c + 3 * cs, 16));
    }
    if (last && masked) {
      a0 = f32x4.mul(a0, v128.load(mask));
      a1 = f32x4.mul(a1, v128.load(mask, 16));
      b0 = f32x4.mul(b0, v128.load(mask + cs));
      b1 = f32x4.mul(b1, v128.load(mask + cs, 16));
      c0 = f32x4.mul(c0, v128.load(mask + 2 * cs));
      c1 = f32x4.mul(c1, v128.load(mask + 2 * cs, 16));
      d0 = f32x4.mul(d0, v128.load(mask + 3 * cs));
      d1 = f32x4.mul(d1, v128.load(mask + 3 * cs, 16));
    }
    v128.store(c, a0);
    v128.store(c, a1, 16);
    v128.store(c + cs, b0);
    v128.store(c + cs, b1, 16);
    v128.store(c + 2 * cs, c0);
    v128.store(c + 2 * cs, c1, 16);
    v128.store(c + 3 * cs, d0);
    v128.store(c + 3 * cs, d1, 16);
    return;
  }
  // an edge tile: through 128 bytes of spill, element by element
  v128.store(spill, a0);
  v128.store(spill, a1, 16);
  v128.store(spill, b0, 32);
  v128.store(spill, b1, 48);
  v128.store(spill, c0, 64);
  v128.store(spill, c1, 80);
  v128.store(spill, d0, 96);
  v128.store(spill, d1, 112);
  for (let i = 0; i < rows; i++)
    for (let q = 0; q < cols; q++) {
      const at = <usize>i * cs + (<usize>q << 2);
      let v = load<f32>(spill + (<usize>(i * 8 + q) << 2));
      if (!first) v += load<f32>(c + at);
      if (last && masked) v *= load<f32>(mask + at);
      store<f32>(c + at, v);
    }
}

// C [m, n] (row stride n) = A·Bp over k, A(p, r) at a + p·ap + r·ar, Bp packed panels; the mask epilogue if masked.
function blocked(a: usize, ap: usize, ar: usize, bp: usize, c: usize, mask: usize, masked: bool, accumulate: bool, m: i32, k: i32, n: i32, apack: usize): void {
  const cs = <usize>n << 2;
  const panels = (n + 7) >> 3;
  const spill = apack - 128; // 128 bytes between B's panels and A's block (aPack)
  for (let r0 = 0; r0 < k; r0 += KC) {
    const kl = min(KC, k - r0);
    const first = r0 == 0 && !accumulate;
    const last = r0 + kl >= k;
    for (let p0 = 0; p0 < m; p0 += MC) {
      const rows = min(MC, m - p0);
      packA(a, ap, ar, m, p0, (rows + 3) & ~3, r0, kl, apack);
      for (let j = 0; j < panels; j++) {
        const q0 = j << 3;
        const cols = min(8, n - q0);
        const pb = bp + <usize>j * panelBytes(k) + (<usize>r0 << 5);
        for (let i = 0; i < rows; i += 4) {
          const at = <usize>(p0 + i) * cs + (<usize>q0 << 2);
          tile(apack + <usize>(i >> 2) * (<usize>kl << 4), pb, kl, c + at, cs, mask + at, masked, first, last, min(4, rows - i), cols, spill);
        }
      }
    }
  }
}

// Scratch layout: B panels, then 128 bytes of spill, then the packed A block.
// @ts-ignore: decorator
@inline
function aPack(scratch: usize, k: i32, n: i32): usize {
  return scratch + <usize>((n + 7) >> 3) * panelBytes(k) + 128;
}

/**
 * g [rows, in] = (dyᵀ·x) ⊙ w for x [tokens, in], w [rows, in] and `rows` columns of dy read from a row stride of
 * dyStride floats (a slice of a wider dy: the rows of g one thread computes).
 */
export function maskedWeightGrad(x: usize, dy: usize, dyStride: i32, w: usize, g: usize, tokens: i32, inDim: i32, rows: i32, scratch: usize): void {
  packRows(x, <usize>inDim << 2, 0, false, tokens, inDim, scratch);
  blocked(dy, 4, <usize>dyStride << 2, scratch, g, w, true, false, rows, tokens, inDim, aPack(scratch, tokens, inDim));
}

// Pack once, multiply many: the JS side feeds A and C in row chunks against one packed B, so a product's output
// (the lm_head's logits: tokens × vocab) never has to sit in this module's memory whole.

/** B for y = x·(w ⊙ mask)ᵀ (k = in, n = out) into bp; kind 0: w alone, 1: ⊙ mask, 2: ⊙ M̃ from (probs, s, c, m). */
export function packForward(w: usize, mask: usize, probs: usize, s: usize, c: i32, m: i32, kind: i32, inDim: i32, outDim: i32, bp: usize): void {
  if (kind == 2) packTransposedSoft(w, probs, s, c, m, inDim, outDim, bp);
  else packTransposed(w, mask, kind == 1, inDim, outDim, bp);
}

/** B for dx = dy·(w ⊙ mask) (k = out, n = in) into bp; kinds as packForward. */
export function packInputGrad(w: usize, mask: usize, probs: usize, s: usize, c: i32, m: i32, kind: i32, inDim: i32, outDim: i32, bp: usize): void {
  if (kind == 2) packRowsSoft(w, probs, s, c, m, outDim, inDim, bp);
  else packRows(w, <usize>inDim << 2, mask, kind == 1, outDim, inDim, bp);
}

/** C [m, n] (+)= A [m, k] (row-major) · B packed at bp; apack: packScratchBytes(m, k, n) − B's panels − 128 bytes. */
export function gemmPacked(a: usize, bp: usize, c: usize, accumulate: bool, m: i32, k: i32, n: i32, apack: usize): void {
  blocked(a, <usize>k << 2, 4, bp, c, 0, false, accumulate, m, k, n, apack + 128);
}

/**
 * The lm_head and the loss of one window, fused: logits [rows, v] = x [rows, d]·Wᵀ (bpF: packForward of W), the
 * next-token loss (Σ weight·nll returned, lse per row), the logits' gradient scale·(softmax − onehot) in place,
 * and dx [rows, d] = dlogits·W (bpB: packInputGrad of W). The logits never leave this module, and exist for one
 * window at a time. apack: 128 + the larger A block of the two products.
 */
export function headLossWindow(x: usize, bpF: usize, bpB: usize, t: usize, w: usize, scale: usize, lse: usize, logits: usize, dx: usize, rows: i32, d: i32, v: i32, apack: usize): f64 {
  blocked(x, <usize>d << 2, 4, bpF, logits, 0, false, false, rows, d, v, apack + 128);
  const total = crossEntropyForward(logits, t, w, lse, rows, v);
  crossEntropyBackward(logits, t, scale, lse, logits, rows, v);
  blocked(logits, <usize>v << 2, 4, bpB, dx, 0, false, false, rows, v, d, apack + 128);
  return total;
}

/** Bytes of B's panels for k × n. */
export function packedBytes(k: i32, n: i32): usize {
  return <usize>((n + 7) >> 3) * panelBytes(k);
}

/** First free byte after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
