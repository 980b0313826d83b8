// The linear layers' products (assembly/matmul.ts) over Float32Arrays (copied in and out; the kernels' right-edge
// tiles read up to 3 values past a row of B, x or w, into the 16 bytes callKernel leaves after each buffer).
import { MATMUL_WASM_BASE64 } from "./matmul-binary.js";
import { callKernel, lazyKernels, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  gemm(a: number, b: number, c: number, m: number, k: number, n: number): void;
  maskedWeightGrad(x: number, dy: number, w: number, g: number, tokens: number, inDim: number, outDim: number): void;
}

const kernels = lazyKernels<Exports>(MATMUL_WASM_BASE64);

/** g [out, in] = (dyᵀ·x) ⊙ w for x [tokens, in], dy [tokens, out], w [out, in]. */
export function maskedWeightGrad(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, g: Float32Array): void {
  for (const [name, a, n] of [["x", x, tokens * inDim], ["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["g", g, outDim * inDim]] as const)
    if (a.length !== n) throw new RangeError(`maskedWeightGrad: ${name} has ${a.length} values, expected ${n}`);
  const k = kernels();
  callKernel(k, [x, dy, w], [g], 0, ([px, pd, pw, pg]) => k.maskedWeightGrad(px, pd, pw, pg, tokens, inDim, outDim));
}

/** c [m, n] = a [m, k] · b [k, n], row-major. */
export function gemm(a: Float32Array, b: Float32Array, m: number, k: number, n: number, c: Float32Array): void {
  for (const [name, x, len] of [["a", a, m * k], ["b", b, k * n], ["c", c, m * n]] as const)
    if (x.length !== len) throw new RangeError(`gemm: ${name} has ${x.length} values, expected ${len}`);
  const ks = kernels();
  callKernel(ks, [a, b], [c], 0, ([pa, pb, pc]) => ks.gemm(pa, pb, pc, m, k, n));
}
