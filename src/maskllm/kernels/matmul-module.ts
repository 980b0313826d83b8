// The linear layers' products (assembly/matmul.ts) over Float32Arrays, copied in and out of the kernel's memory
// (O(inputs) copies against O(m·k·n) work). Each call also lays out the scratch the kernel packs B and A into.
import { MATMUL_WASM_BASE64 } from "./matmul-binary.js";
import { callKernel, layout, lazyKernels, put, take, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  packScratchBytes(m: number, k: number, n: number): number;
  gemm(a: number, b: number, c: number, m: number, k: number, n: number, scratch: number): void;
  linearForward(x: number, w: number, mask: number, masked: number, y: number, tokens: number, inDim: number, outDim: number, scratch: number): void;
  linearInputGrad(dy: number, w: number, mask: number, masked: number, dx: number, accumulate: number, tokens: number, inDim: number, outDim: number, scratch: number): void;
  softLinearForward(x: number, w: number, probs: number, s: number, c: number, m: number, y: number, tokens: number, inDim: number, outDim: number, scratch: number): void;
  softLinearInputGrad(dy: number, w: number, probs: number, s: number, c: number, m: number, dx: number, accumulate: number, tokens: number, inDim: number, outDim: number, scratch: number): void;
  maskedWeightGrad(x: number, dy: number, dyStride: number, w: number, g: number, tokens: number, inDim: number, rows: number, scratch: number): void;
}

const kernels = lazyKernels<Exports>(MATMUL_WASM_BASE64);

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

/** c [m, n] = a [m, k] · b [k, n], row-major. */
export function gemm(a: Float32Array, b: Float32Array, m: number, k: number, n: number, c: Float32Array): void {
  expectLengths("gemm", [["a", a, m * k], ["b", b, k * n], ["c", c, m * n]]);
  const ks = kernels();
  callKernel(ks, [a, b], [c], ks.packScratchBytes(m, k, n), ([pa, pb, pc, ps]) => ks.gemm(pa, pb, pc, m, k, n, ps));
}

/** y [tokens, out] = x [tokens, in] · (w ⊙ mask)ᵀ for w, mask [out, in]; without a mask, x · wᵀ. */
export function linearForward(x: Float32Array, w: Float32Array, mask: Float32Array | undefined, tokens: number, inDim: number, outDim: number, y: Float32Array): void {
  expectLengths("linearForward", [["x", x, tokens * inDim], ["w", w, outDim * inDim], ["y", y, tokens * outDim], ...(mask ? [["mask", mask, outDim * inDim] as [string, Float32Array, number]] : [])]);
  const k = kernels();
  const inputs = mask ? [x, w, mask] : [x, w];
  callKernel(k, inputs, [y], k.packScratchBytes(tokens, inDim, outDim), (p) =>
    mask ? k.linearForward(p[0], p[1], p[2], 1, p[3], tokens, inDim, outDim, p[4]) : k.linearForward(p[0], p[1], 0, 0, p[2], tokens, inDim, outDim, p[3]),
  );
}

/** dx [tokens, in] = dy [tokens, out] · (w ⊙ mask) for w, mask [out, in]; without a mask, dy · w; accumulate: dx +=. */
export function linearInputGrad(dy: Float32Array, w: Float32Array, mask: Float32Array | undefined, tokens: number, inDim: number, outDim: number, dx: Float32Array, accumulate = false): void {
  expectLengths("linearInputGrad", [["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["dx", dx, tokens * inDim], ...(mask ? [["mask", mask, outDim * inDim] as [string, Float32Array, number]] : [])]);
  const k = kernels();
  // dx is read too when accumulating, so it is laid out (and copied in) like the inputs
  const [pdy, pw, pm, pdx, ps] = layout(k, [dy.byteLength + 16, w.byteLength + 16, mask ? mask.byteLength + 16 : 0, dx.byteLength + 16, k.packScratchBytes(tokens, outDim, inDim)]);
  put(k, pdy, dy);
  put(k, pw, w);
  if (mask) put(k, pm, mask);
  if (accumulate) put(k, pdx, dx);
  k.linearInputGrad(pdy, pw, pm, mask ? 1 : 0, pdx, accumulate ? 1 : 0, tokens, inDim, outDim, ps);
  take(k, pdx, dx);
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
  const c = checkSoft("softLinearForward", w, sm, inDim);
  const k = kernels();
  callKernel(k, [x, w, sm.probs, sm.s], [y], k.packScratchBytes(tokens, inDim, outDim), ([px, pw, pp, ps, py, scratch]) => k.softLinearForward(px, pw, pp, ps, c, sm.m, py, tokens, inDim, outDim, scratch));
}

/** dx [tokens, in] (+)= dy · (w ⊙ M̃), M̃ from ỹ as in softLinearForward. */
export function softLinearInputGrad(dy: Float32Array, w: Float32Array, sm: SoftMask, tokens: number, inDim: number, outDim: number, dx: Float32Array, accumulate = false): void {
  expectLengths("softLinearInputGrad", [["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["dx", dx, tokens * inDim]]);
  const c = checkSoft("softLinearInputGrad", w, sm, inDim);
  const k = kernels();
  const [pdy, pw, pp, ps, pdx, scratch] = layout(k, [dy.byteLength + 16, w.byteLength + 16, sm.probs.byteLength + 16, sm.s.byteLength + 16, dx.byteLength + 16, k.packScratchBytes(tokens, outDim, inDim)]);
  put(k, pdy, dy);
  put(k, pw, w);
  put(k, pp, sm.probs);
  put(k, ps, sm.s);
  if (accumulate) put(k, pdx, dx);
  k.softLinearInputGrad(pdy, pw, pp, ps, c, sm.m, pdx, accumulate ? 1 : 0, tokens, inDim, outDim, scratch);
  take(k, pdx, dx);
}
