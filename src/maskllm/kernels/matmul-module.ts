// The linear layers' products (assembly/matmul.ts) over Float32Arrays, copied in and out of the kernel's memory
// (O(inputs) copies against O(m·k·n) work). Each call also lays out the scratch the kernel packs B and A into.
import { MATMUL_WASM_BASE64 } from "./matmul-binary.js";
import { MATMUL_FMA_WASM_BASE64 } from "./matmul-fma-binary.js";
import { callKernel, layout, lazyKernels, put, take, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  packScratchBytes(m: number, k: number, n: number): number;
  packForward(w: number, mask: number, probs: number, s: number, c: number, m: number, kind: number, inDim: number, outDim: number, bp: number): void;
  packInputGrad(w: number, mask: number, probs: number, s: number, c: number, m: number, kind: number, inDim: number, outDim: number, bp: number): void;
  gemmPacked(a: number, bp: number, c: number, accumulate: number, m: number, k: number, n: number, apack: number): void;
  packedBytes(k: number, n: number): number;
  headLossWindow(x: number, bpF: number, bpB: number, t: number, w: number, scale: number, lse: number, logits: number, dx: number, rows: number, d: number, v: number, apack: number): number;
  maskedWeightGrad(x: number, dy: number, dyStride: number, w: number, g: number, tokens: number, inDim: number, rows: number, scratch: number): void;
}

// the FMA build where relaxed SIMD is on (src/runtime/relaxed-simd.mjs), else the plain one
const kernels = lazyKernels<Exports>(MATMUL_FMA_WASM_BASE64, MATMUL_WASM_BASE64);

function expectLengths(op: string, arrays: [string, Float32Array, number][]): void {
  for (const [name, a, n] of arrays) if (a.length !== n) throw new RangeError(`${op}: ${name} has ${a.length} values, expected ${n}`);
}

/** g [out, in] = (dyᵀ·x) ⊙ w for x [tokens, in], dy [tokens, out], w [out, in]. */
export function maskedWeightGrad(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, g: Float32Array): void {
  maskedWeightGradRows(x, dy, w, tokens, inDim, outDim, 0, outDim, g);
}

/**
 * Rows r0..r1 of maskedWeightGrad: g [r1 − r0, in] = (dy[:, r0:r1]ᵀ·x) ⊙ w[r0:r1] for the whole x, dy and w; what
 * one thread computes of a layer's mask gradient.
 */
export function maskedWeightGradRows(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, r0: number, r1: number, g: Float32Array): void {
  if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= outDim)) throw new RangeError(`maskedWeightGrad: rows ${r0}..${r1} of ${outDim}`);
  const rows = r1 - r0;
  expectLengths("maskedWeightGrad", [["x", x, tokens * inDim], ["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["g", g, rows * inDim]]);
  if (rows === 0) return;
  const k = kernels();
  const wr = w.subarray(r0 * inDim, r1 * inDim);
  callKernel(k, [x, dy, wr], [g], k.packScratchBytes(rows, tokens, inDim), ([px, pd, pw, pg, ps]) => k.maskedWeightGrad(px, pd + r0 * 4, outDim, pw, pg, tokens, inDim, rows, ps));
}

/** c [m, n] = a [m, k] · b [k, n], row-major: the input-gradient product with b as a weight [out = k, in = n]. */
export function gemm(a: Float32Array, b: Float32Array, m: number, k: number, n: number, c: Float32Array): void {
  expectLengths("gemm", [["a", a, m * k], ["b", b, k * n], ["c", c, m * n]]);
  linearProduct("input", a, { w: b }, m, n, k, c, false);
}

// A product's A and C go through the kernel's memory in chunks of rows, against B packed once: the memory a call
// leaves behind is B, its packed copy and one chunk, whatever the token count (the lm_head's logits are
// tokens × vocab).
const CHUNK_FLOATS = 1 << 22;

interface LinearWeight {
  w: Float32Array;
  mask?: Float32Array;
  soft?: SoftMask;
}

function linearProduct(direction: "forward" | "input", a: Float32Array, lw: LinearWeight, tokens: number, inDim: number, outDim: number, out: Float32Array, accumulate: boolean): void {
  const k = kernels();
  const [kk, nn] = direction === "forward" ? [inDim, outDim] : [outDim, inDim];
  const rowsPerCall = Math.max(4, Math.min(tokens, Math.floor(CHUNK_FLOATS / Math.max(kk, nn))));
  const packed = k.packedBytes(kk, nn);
  const blockBytes = k.packScratchBytes(rowsPerCall, kk, nn) - packed;
  const soft = lw.soft;
  const c = soft ? soft.s.length / soft.m : 0;
  const extra = lw.mask ?? soft?.probs;
  const [pw, pe, ps, pb, pa, pA, pC] = layout(k, [lw.w.byteLength + 16, extra ? extra.byteLength + 16 : 0, soft ? soft.s.byteLength + 16 : 0, packed, blockBytes, rowsPerCall * kk * 4 + 16, rowsPerCall * nn * 4 + 16]);
  put(k, pw, lw.w);
  if (extra) put(k, pe, extra);
  if (soft) put(k, ps, soft.s);
  const kind = soft ? 2 : lw.mask ? 1 : 0;
  if (direction === "forward") k.packForward(pw, pe, pe, ps, c, soft?.m ?? 0, kind, inDim, outDim, pb);
  else k.packInputGrad(pw, pe, pe, ps, c, soft?.m ?? 0, kind, inDim, outDim, pb);
  for (let r0 = 0; r0 < tokens; r0 += rowsPerCall) {
    const r1 = Math.min(tokens, r0 + rowsPerCall);
    put(k, pA, a.subarray(r0 * kk, r1 * kk));
    const cOut = out.subarray(r0 * nn, r1 * nn);
    if (accumulate) put(k, pC, cOut);
    k.gemmPacked(pA, pb, pC, accumulate ? 1 : 0, r1 - r0, kk, nn, pa);
    take(k, pC, cOut);
  }
}

/** y [tokens, out] = x [tokens, in] · (w ⊙ mask)ᵀ for w, mask [out, in]; without a mask, x · wᵀ. */
export function linearForward(x: Float32Array, w: Float32Array, mask: Float32Array | undefined, tokens: number, inDim: number, outDim: number, y: Float32Array): void {
  expectLengths("linearForward", [["x", x, tokens * inDim], ["w", w, outDim * inDim], ["y", y, tokens * outDim], ...(mask ? [["mask", mask, outDim * inDim] as [string, Float32Array, number]] : [])]);
  linearProduct("forward", x, { w, ...(mask ? { mask } : {}) }, tokens, inDim, outDim, y, false);
}

/** dx [tokens, in] = dy [tokens, out] · (w ⊙ mask) for w, mask [out, in]; without a mask, dy · w; accumulate: dx +=. */
export function linearInputGrad(dy: Float32Array, w: Float32Array, mask: Float32Array | undefined, tokens: number, inDim: number, outDim: number, dx: Float32Array, accumulate = false): void {
  expectLengths("linearInputGrad", [["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["dx", dx, tokens * inDim], ...(mask ? [["mask", mask, outDim * inDim] as [string, Float32Array, number]] : [])]);
  linearProduct("input", dy, { w, ...(mask ? { mask } : {}) }, tokens, inDim, outDim, dx, accumulate);
}

/** A masked linear's soft mask as its candidate probabilities ỹ [out·in/M, C] and S [C, M] (M a multiple of 4). */
export interface SoftMask {
  probs: Float32Array;
  s: Float32Array;
  m: number;
}

function checkSoft(op: string, w: Float32Array, sm: SoftMask, inDim: number): number {
  const c = sm.s.length / sm.m;
  if (sm.m % 4 !== 0 || inDim % sm.m !== 0 || !Number.isInteger(c)) throw new RangeError(`${op}: group size ${sm.m} (input ${inDim}) is not a multiple of 4 that divides the input`);
  if (sm.probs.length !== (w.length / sm.m) * c) throw new RangeError(`${op}: ${sm.probs.length} candidate probabilities for ${w.length / sm.m} groups of ${c}`);
  return c;
}

/** y [tokens, out] = x · (w ⊙ M̃)ᵀ with M̃ formed from ỹ while packing (never stored). */
export function softLinearForward(x: Float32Array, w: Float32Array, sm: SoftMask, tokens: number, inDim: number, outDim: number, y: Float32Array): void {
  expectLengths("softLinearForward", [["x", x, tokens * inDim], ["w", w, outDim * inDim], ["y", y, tokens * outDim]]);
  checkSoft("softLinearForward", w, sm, inDim);
  linearProduct("forward", x, { w, soft: sm }, tokens, inDim, outDim, y, false);
}

/** dx [tokens, in] (+)= dy · (w ⊙ M̃), M̃ from ỹ as in softLinearForward. */
export function softLinearInputGrad(dy: Float32Array, w: Float32Array, sm: SoftMask, tokens: number, inDim: number, outDim: number, dx: Float32Array, accumulate = false): void {
  expectLengths("softLinearInputGrad", [["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["dx", dx, tokens * inDim]]);
  checkSoft("softLinearInputGrad", w, sm, inDim);
  linearProduct("input", dy, { w, soft: sm }, tokens, inDim, outDim, dx, accumulate);
}

/**
 * The lm_head, the next-token loss and their backward to the final norm's output, window by window: totals[i] =
 * Σ rowWeights·nll over window i's rows, dx [rows, d] = ∂(Σ rowScale·nll)/∂x. W [v, d] is copied in and packed
 * both ways once; its copy's room then holds a window's logits, so a thread's memory for this is about W twice.
 */
export function lmHeadLoss(x: Float32Array, w: Float32Array, targets: Int32Array, rowWeights: Float32Array, rowScale: Float32Array, windows: number, seq: number, d: number, v: number, dx: Float32Array, totals: Float64Array): void {
  const rows = windows * seq;
  expectLengths("lmHeadLoss", [["x", x, rows * d], ["w", w, v * d], ["rowWeights", rowWeights, rows], ["rowScale", rowScale, rows], ["dx", dx, rows * d]]);
  if (targets.length !== rows || totals.length < windows) throw new RangeError(`lmHeadLoss: ${targets.length} targets and ${totals.length} totals for ${windows} windows of ${seq}`);
  if (v % 4 !== 0) throw new RangeError(`lmHeadLoss: the vocabulary (${v}) is not a multiple of 4`);
  const k = kernels();
  const fwd = k.packedBytes(d, v);
  const bwd = k.packedBytes(v, d);
  const block = Math.max(k.packScratchBytes(seq, d, v) - fwd, k.packScratchBytes(seq, v, d) - bwd);
  const room = Math.max(w.byteLength, seq * v * 4) + 16;
  const [pw, pF, pB, pa, px, pdx, pt, pwt, ps, pl] = layout(k, [room, fwd, bwd, block, seq * d * 4 + 16, seq * d * 4 + 16, seq * 4 + 16, seq * 4 + 16, seq * 4 + 16, seq * 4 + 16]);
  put(k, pw, w);
  k.packForward(pw, 0, 0, 0, 0, 0, 0, d, v, pF);
  k.packInputGrad(pw, 0, 0, 0, 0, 0, 0, d, v, pB);
  for (let i = 0; i < windows; i++) {
    const r0 = i * seq;
    const r1 = r0 + seq;
    put(k, px, x.subarray(r0 * d, r1 * d));
    new Int32Array(k.memory.buffer, pt, seq).set(targets.subarray(r0, r1));
    put(k, pwt, rowWeights.subarray(r0, r1));
    put(k, ps, rowScale.subarray(r0, r1));
    totals[i] = k.headLossWindow(px, pF, pB, pt, pwt, ps, pl, pw, pdx, seq, d, v, pa);
    take(k, pdx, dx.subarray(r0 * d, r1 * d));
  }
}
