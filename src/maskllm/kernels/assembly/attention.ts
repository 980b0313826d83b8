// Long file: one concept, causal attention, whose forward and flash backward share RoPE rows and packed k, v.
// Causal grouped-query self-attention with HF's rotate-half RoPE, forward and backward, in WebAssembly SIMD
// (AssemblyScript; `npm run build:kernels` compiles it into ../attention-binary.ts).
//
// Why a kernel of our own: LLaMA heads are small (stories260K: headDim 8), so TF.js ops spend their time writing and
// re-reading [queries, keys] score matrices (matMul with K = 8 is memory-bound), transposing them, and dispatching
// a dozen ops per (sequence, kv head). Here each query row's scores live in a row buffer in L1 and never reach
// memory: the forward keeps only the row's log-sum-exp, and the backward recomputes the probabilities from it
// (flash attention's recipe), skipping the keys a causal row cannot see.
//
// Layouts (float32, row-major; every pointer is a byte offset into this module's memory, laid out by the caller):
//   q [batch·seq, heads·headDim] and k, v [batch·seq, kvHeads·headDim]: the projections' outputs, RoPE not applied;
//   o [batch·seq, heads·headDim]: the input of o_proj; lse [batch, heads, seq]: each row's log Σ exp(score);
//   cosQ/sinQ, cosK/sinK [seq, headDim]: RoPE tables (the queries' carry the 1/√headDim score scale).
// Query head h reads kv head h / (heads / kvHeads), as HF's repeat_kv does.
// Keys are vectorised four at a time: per (sequence, kv head) the roped keys and the values are packed in blocks of
// four keys (packKeysValues; seqPad = seq rounded up to 4, padding zero), so a score block is Σ_d q[d]·K4[block][d].

import { exp4, hmax, hsum } from "./simd-math";

const NEG_INF: f32 = -Infinity;

/** All ones in the lanes j0..j0+3 that are <= i, zero above (the causal edge of a row's last block). */
// @ts-ignore: decorator
@inline
function causalLanes(j0: i32, i: i32): v128 {
  return i32x4.le_s(i32x4.add(i32x4.splat(j0), i32x4(0, 1, 2, 3)), i32x4.splat(i));
}

/** out[d] = x[d]·cos[d] + rotate_half(x)[d]·sin[d], rotate_half(x) = [−x₂, x₁]. */
function ropeRow(x: usize, cos: usize, sin: usize, out: usize, hd: i32): void {
  const half = hd >> 1;
  for (let d = 0; d < half; d++) {
    const a = load<f32>(x + (<usize>d << 2));
    const b = load<f32>(x + (<usize>(d + half) << 2));
    store<f32>(out + (<usize>d << 2), a * load<f32>(cos + (<usize>d << 2)) - b * load<f32>(sin + (<usize>d << 2)));
    store<f32>(out + (<usize>(d + half) << 2), b * load<f32>(cos + (<usize>(d + half) << 2)) + a * load<f32>(sin + (<usize>(d + half) << 2)));
  }
}

/** The transpose of ropeRow's map: dx[d] = dr[d]·cos[d] + rotate_halfᵀ(dr⊙sin)[d], rotate_halfᵀ(y) = [y₂, −y₁]. */
function ropeRowBackward(dr: usize, cos: usize, sin: usize, dx: usize, hd: i32): void {
  const half = hd >> 1;
  for (let d = 0; d < half; d++) {
    const a = load<f32>(dr + (<usize>d << 2));
    const b = load<f32>(dr + (<usize>(d + half) << 2));
    store<f32>(dx + (<usize>d << 2), a * load<f32>(cos + (<usize>d << 2)) + b * load<f32>(sin + (<usize>(d + half) << 2)));
    store<f32>(dx + (<usize>(d + half) << 2), b * load<f32>(cos + (<usize>(d + half) << 2)) - a * load<f32>(sin + (<usize>d << 2)));
  }
}

// Keys and values of one (sequence, kv head) are packed in blocks of four keys: block jb holds, for each component d,
// the four keys' values as one v128 at (jb·hd + d)·16 bytes. A score block then reads one pointer with constant
// offsets, and the 1/√hd-scaled query row's components are splatted once per row.

/** K4, V4 for sequence b, kv head kh: roped keys and values, packed, zero past seq. */
function packKeysValues(k: usize, v: usize, cosK: usize, sinK: usize, k4: usize, v4: usize, tmp: usize, b: i32, kh: i32, seq: i32, seqPad: i32, kvWidth: i32, hd: i32): void {
  for (let j = 0; j < seqPad; j++) {
    const at = (<usize>((j >> 2) * hd) << 4) + (<usize>(j & 3) << 2); // key j's lane of component 0
    if (j < seq) {
      const row = <usize>((b * seq + j) * kvWidth + kh * hd) << 2;
      ropeRow(k + row, cosK + (<usize>(j * hd) << 2), sinK + (<usize>(j * hd) << 2), tmp, hd);
      for (let d = 0; d < hd; d++) {
        store<f32>(k4 + at + (<usize>d << 4), load<f32>(tmp + (<usize>d << 2)));
        store<f32>(v4 + at + (<usize>d << 4), load<f32>(v + row + (<usize>d << 2)));
      }
    } else
      for (let d = 0; d < hd; d++) {
        store<f32>(k4 + at + (<usize>d << 4), 0);
        store<f32>(v4 + at + (<usize>d << 4), 0);
      }
  }
}

/**
 * out[j..j+3] = Σ_d x[d]·X4[block j/4][d] for the blocks below `end`: eight components at a time with the splats in
 * registers, then one at a time. x is a row of hd floats; out gets one v128 per block.
 */
// @ts-ignore: decorator
@inline
function rowTimesPacked(x: usize, x4: usize, out: usize, end: i32, hd: i32): void {
  const blockBytes = <usize>hd << 4;
  let d0 = 0;
  for (; d0 + 8 <= hd; d0 += 8) {
    const xd = x + (<usize>d0 << 2);
    const c0 = v128.load32_splat(xd, 0);
    const c1 = v128.load32_splat(xd, 4);
    const c2 = v128.load32_splat(xd, 8);
    const c3 = v128.load32_splat(xd, 12);
    const c4 = v128.load32_splat(xd, 16);
    const c5 = v128.load32_splat(xd, 20);
    const c6 = v128.load32_splat(xd, 24);
    const c7 = v128.load32_splat(xd, 28);
    let src = x4 + (<usize>d0 << 4);
    for (let j = 0; j < end; j += 4, src += blockBytes) {
      const o = out + (<usize>j << 2);
      let acc = d0 == 0 ? f32x4.splat(0) : v128.load(o);
      acc = f32x4.add(acc, f32x4.mul(c0, v128.load(src, 0)));
      acc = f32x4.add(acc, f32x4.mul(c1, v128.load(src, 16)));
      acc = f32x4.add(acc, f32x4.mul(c2, v128.load(src, 32)));
      acc = f32x4.add(acc, f32x4.mul(c3, v128.load(src, 48)));
      acc = f32x4.add(acc, f32x4.mul(c4, v128.load(src, 64)));
      acc = f32x4.add(acc, f32x4.mul(c5, v128.load(src, 80)));
      acc = f32x4.add(acc, f32x4.mul(c6, v128.load(src, 96)));
      acc = f32x4.add(acc, f32x4.mul(c7, v128.load(src, 112)));
      v128.store(o, acc);
    }
  }
  for (; d0 < hd; d0++) {
    const c = v128.load32_splat(x + (<usize>d0 << 2));
    let src = x4 + (<usize>d0 << 4);
    for (let j = 0; j < end; j += 4, src += blockBytes) {
      const o = out + (<usize>j << 2);
      v128.store(o, f32x4.add(d0 == 0 ? f32x4.splat(0) : v128.load(o), f32x4.mul(c, v128.load(src))));
    }
  }
}

/** out[d] = scale·Σ_j w[j]·X4[j][d] for d < hd (w: one v128 per block, zero in masked lanes). */
// @ts-ignore: decorator
@inline
function weightsTimesPacked(w: usize, x4: usize, out: usize, end: i32, hd: i32, scale: f32): void {
  const blockBytes = <usize>hd << 4;
  let d0 = 0;
  for (; d0 + 8 <= hd; d0 += 8) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    let src = x4 + (<usize>d0 << 4);
    for (let j = 0; j < end; j += 4, src += blockBytes) {
      const p = v128.load(w + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(p, v128.load(src, 0)));
      a1 = f32x4.add(a1, f32x4.mul(p, v128.load(src, 16)));
      a2 = f32x4.add(a2, f32x4.mul(p, v128.load(src, 32)));
      a3 = f32x4.add(a3, f32x4.mul(p, v128.load(src, 48)));
      a4 = f32x4.add(a4, f32x4.mul(p, v128.load(src, 64)));
      a5 = f32x4.add(a5, f32x4.mul(p, v128.load(src, 80)));
      a6 = f32x4.add(a6, f32x4.mul(p, v128.load(src, 96)));
      a7 = f32x4.add(a7, f32x4.mul(p, v128.load(src, 112)));
    }
    const od = out + (<usize>d0 << 2);
    store<f32>(od, hsum(a0) * scale, 0);
    store<f32>(od, hsum(a1) * scale, 4);
    store<f32>(od, hsum(a2) * scale, 8);
    store<f32>(od, hsum(a3) * scale, 12);
    store<f32>(od, hsum(a4) * scale, 16);
    store<f32>(od, hsum(a5) * scale, 20);
    store<f32>(od, hsum(a6) * scale, 24);
    store<f32>(od, hsum(a7) * scale, 28);
  }
  for (; d0 < hd; d0++) {
    let acc = f32x4.splat(0);
    let src = x4 + (<usize>d0 << 4);
    for (let j = 0; j < end; j += 4, src += blockBytes) acc = f32x4.add(acc, f32x4.mul(v128.load(w + (<usize>j << 2)), v128.load(src)));
    store<f32>(out + (<usize>d0 << 2), hsum(acc) * scale);
  }
}

/** Scratch bytes forward() needs for seq and hd (the caller allocates them). */
export function forwardScratchBytes(seq: i32, hd: i32): i32 {
  const seqPad = (seq + 3) & ~3;
  return (2 * hd * seqPad + seqPad + 2 * hd) << 2;
}

/** Scratch bytes backward() needs. */
export function backwardScratchBytes(seq: i32, hd: i32): i32 {
  const seqPad = (seq + 3) & ~3;
  return (4 * hd * seqPad + 2 * seqPad + 4 * hd) << 2;
}

/** o = softmax(rope(q)·rope(k)ᵀ/√hd + causal)·v per head; lse = each row's log Σ exp(score). */
export function forward(q: usize, k: usize, v: usize, cosQ: usize, sinQ: usize, cosK: usize, sinK: usize, o: usize, lse: usize, scratch: usize, batch: i32, seq: i32, heads: i32, kvHeads: i32, hd: i32): void {
  const seqPad = (seq + 3) & ~3;
  const group = heads / kvHeads;
  const qWidth = heads * hd;
  const kvWidth = kvHeads * hd;
  const k4 = scratch;
  const v4 = k4 + (<usize>(hd * seqPad) << 2);
  const p = v4 + (<usize>(hd * seqPad) << 2); // the row's scores, then its probabilities
  const qr = p + (<usize>seqPad << 2);
  const tmp = qr + (<usize>hd << 2);
  for (let b = 0; b < batch; b++)
    for (let kh = 0; kh < kvHeads; kh++) {
      packKeysValues(k, v, cosK, sinK, k4, v4, tmp, b, kh, seq, seqPad, kvWidth, hd);
      for (let g = 0; g < group; g++) {
        const h = kh * group + g;
        for (let i = 0; i < seq; i++) {
          const row = <usize>((b * seq + i) * qWidth + h * hd) << 2;
          ropeRow(q + row, cosQ + (<usize>(i * hd) << 2), sinQ + (<usize>(i * hd) << 2), qr, hd);
          const end = (i + 4) & ~3; // keys 0..i, in whole blocks of four
          rowTimesPacked(qr, k4, p, end, hd);
          // the last block's lanes past i are masked; the max over the visible scores
          const last = p + (<usize>(end - 4) << 2);
          v128.store(last, v128.bitselect(v128.load(last), f32x4.splat(NEG_INF), causalLanes(end - 4, i)));
          let vmax = f32x4.splat(NEG_INF);
          for (let j = 0; j < end; j += 4) vmax = f32x4.pmax(vmax, v128.load(p + (<usize>j << 2)));
          const m = hmax(vmax);
          // probabilities (unnormalised) and their sum; exp4 takes the masked lanes to ~1e-38 (nothing next to the
          // sum, which is >= 1), and they are zeroed before the product with v
          const mv = f32x4.splat(m);
          let vsum = f32x4.splat(0);
          for (let j = 0; j < end; j += 4) {
            const e = exp4(f32x4.sub(v128.load(p + (<usize>j << 2)), mv));
            v128.store(p + (<usize>j << 2), e);
            vsum = f32x4.add(vsum, e);
          }
          v128.store(last, v128.and(v128.load(last), causalLanes(end - 4, i)));
          const l = hsum(vsum);
          weightsTimesPacked(p, v4, o + row, end, hd, 1 / l);
          store<f32>(lse + (<usize>((b * heads + h) * seq + i) << 2), m + Mathf.log(l));
        }
      }
    }
}

/**
 * Gradients of forward() with respect to q, k and v (before RoPE) given dO: with P recomputed from lse and
 * Dᵢ = dOᵢ·oᵢ (= Σⱼ Pᵢⱼ dPᵢⱼ), dS = P ⊙ (dO·vᵀ − D); dq = dS·k, dk = dSᵀ·q, dv = Pᵀ·dO, each taken back through RoPE.
 */
export function backward(q: usize, k: usize, v: usize, o: usize, lse: usize, dO: usize, cosQ: usize, sinQ: usize, cosK: usize, sinK: usize, dq: usize, dk: usize, dv: usize, scratch: usize, batch: i32, seq: i32, heads: i32, kvHeads: i32, hd: i32): void {
  const seqPad = (seq + 3) & ~3;
  const group = heads / kvHeads;
  const qWidth = heads * hd;
  const kvWidth = kvHeads * hd;
  const k4 = scratch;
  const v4 = k4 + (<usize>(hd * seqPad) << 2);
  const dk4 = v4 + (<usize>(hd * seqPad) << 2);
  const dv4 = dk4 + (<usize>(hd * seqPad) << 2);
  const p = dv4 + (<usize>(hd * seqPad) << 2);
  const ds = p + (<usize>seqPad << 2);
  const qr = ds + (<usize>seqPad << 2);
  const dqr = qr + (<usize>hd << 2);
  const tmp = dqr + (<usize>hd << 2);
  const tmp2 = tmp + (<usize>hd << 2);
  const zero = f32x4.splat(0);
  const blockBytes = <usize>hd << 4;
  for (let b = 0; b < batch; b++)
    for (let kh = 0; kh < kvHeads; kh++) {
      packKeysValues(k, v, cosK, sinK, k4, v4, tmp, b, kh, seq, seqPad, kvWidth, hd);
      for (let x = 0; x < hd * seqPad; x += 4) {
        v128.store(dk4 + (<usize>x << 2), zero);
        v128.store(dv4 + (<usize>x << 2), zero);
      }
      for (let g = 0; g < group; g++) {
        const h = kh * group + g;
        for (let i = 0; i < seq; i++) {
          const row = <usize>((b * seq + i) * qWidth + h * hd) << 2;
          ropeRow(q + row, cosQ + (<usize>(i * hd) << 2), sinQ + (<usize>(i * hd) << 2), qr, hd);
          const dor = dO + row;
          let di: f32 = 0;
          for (let d = 0; d < hd; d++) di += load<f32>(dor + (<usize>d << 2)) * load<f32>(o + row + (<usize>d << 2));
          const lv = f32x4.splat(load<f32>(lse + (<usize>((b * heads + h) * seq + i) << 2)));
          const div = f32x4.splat(di);
          const end = (i + 4) & ~3;
          // P (zero in the masked lanes) and dS = P ⊙ (dO·vᵀ − D)
          rowTimesPacked(qr, k4, p, end, hd);
          rowTimesPacked(dor, v4, ds, end, hd);
          for (let j = 0; j < end; j += 4) {
            const jo = <usize>j << 2;
            let pr = exp4(f32x4.sub(v128.load(p + jo), lv));
            if (j + 4 > i) pr = v128.and(pr, causalLanes(j, i));
            v128.store(p + jo, pr);
            v128.store(ds + jo, f32x4.mul(pr, f32x4.sub(v128.load(ds + jo), div)));
          }
          // dq (this row), dK4 and dV4 (every visible key), two components a pass: ds and p loaded once for both
          let d = 0;
          for (; d + 2 <= hd; d += 2) {
            const q0 = v128.load32_splat(qr + (<usize>d << 2));
            const q1 = v128.load32_splat(qr + (<usize>d << 2), 4);
            const o0 = v128.load32_splat(dor + (<usize>d << 2));
            const o1 = v128.load32_splat(dor + (<usize>d << 2), 4);
            const off = <usize>d << 4;
            let kp = k4 + off, dkp = dk4 + off, dvp = dv4 + off;
            let acc0 = zero, acc1 = zero;
            for (let j = 0; j < end; j += 4, kp += blockBytes, dkp += blockBytes, dvp += blockBytes) {
              const jo = <usize>j << 2;
              const dsj = v128.load(ds + jo);
              const pj = v128.load(p + jo);
              acc0 = f32x4.add(acc0, f32x4.mul(dsj, v128.load(kp)));
              acc1 = f32x4.add(acc1, f32x4.mul(dsj, v128.load(kp, 16)));
              v128.store(dkp, f32x4.add(v128.load(dkp), f32x4.mul(dsj, q0)));
              v128.store(dkp, f32x4.add(v128.load(dkp, 16), f32x4.mul(dsj, q1)), 16);
              v128.store(dvp, f32x4.add(v128.load(dvp), f32x4.mul(pj, o0)));
              v128.store(dvp, f32x4.add(v128.load(dvp, 16), f32x4.mul(pj, o1)), 16);
            }
            store<f32>(dqr + (<usize>d << 2), hsum(acc0));
            store<f32>(dqr + (<usize>d << 2), hsum(acc1), 4);
          }
          for (; d < hd; d++) {
            const qd = v128.load32_splat(qr + (<usize>d << 2));
            const od = v128.load32_splat(dor + (<usize>d << 2));
            const off = <usize>d << 4;
            let kp = k4 + off, dkp = dk4 + off, dvp = dv4 + off;
            let acc = zero;
            for (let j = 0; j < end; j += 4, kp += blockBytes, dkp += blockBytes, dvp += blockBytes) {
              const jo = <usize>j << 2;
              const dsj = v128.load(ds + jo);
              acc = f32x4.add(acc, f32x4.mul(dsj, v128.load(kp)));
              v128.store(dkp, f32x4.add(v128.load(dkp), f32x4.mul(dsj, qd)));
              v128.store(dvp, f32x4.add(v128.load(dvp), f32x4.mul(v128.load(p + jo), od)));
            }
            store<f32>(dqr + (<usize>d << 2), hsum(acc));
          }
          ropeRowBackward(dqr, cosQ + (<usize>(i * hd) << 2), sinQ + (<usize>(i * hd) << 2), dq + row, hd);
        }
      }
      // this kv head's dk (through RoPE) and dv, back in the projections' layout
      for (let j = 0; j < seq; j++) {
        const row = <usize>((b * seq + j) * kvWidth + kh * hd) << 2;
        const at = (<usize>((j >> 2) * hd) << 4) + (<usize>(j & 3) << 2);
        for (let d = 0; d < hd; d++) {
          store<f32>(tmp2 + (<usize>d << 2), load<f32>(dk4 + at + (<usize>d << 4)));
          store<f32>(dv + row + (<usize>d << 2), load<f32>(dv4 + at + (<usize>d << 4)));
        }
        ropeRowBackward(tmp2, cosK + (<usize>(j * hd) << 2), sinK + (<usize>(j * hd) << 2), dk + row, hd);
      }
    }
}

/** First free byte after the module's static data: the caller lays its buffers out from here. */
export function heapBase(): usize {
  return __heap_base;
}
