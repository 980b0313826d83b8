// The linear layers' products (assembly/matmul.ts) over Float32Arrays (copied in and out).
import { MATMUL_WASM_BASE64 } from "./matmul-binary.js";
import { instantiate, layout, put, take, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  gemm(a: number, b: number, c: number, m: number, k: number, n: number): void;
  maskedWeightGrad(x: number, dy: number, w: number, g: number, tokens: number, inDim: number, outDim: number): void;
}

let instance: Exports | undefined;
const kernels = () => (instance ??= instantiate<Exports>(MATMUL_WASM_BASE64));

/** g [out, in] = (dyᵀ·x) ⊙ w for x [tokens, in], dy [tokens, out], w [out, in]; in must be a multiple of 4. */
export function maskedWeightGrad(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, g: Float32Array): void {
  if (inDim % 4 !== 0) throw new RangeError(`maskedWeightGrad: the input dimension ${inDim} is not a multiple of 4`);
  for (const [name, a, n] of [["x", x, tokens * inDim], ["dy", dy, tokens * outDim], ["w", w, outDim * inDim], ["g", g, outDim * inDim]] as const)
    if (a.length !== n) throw new RangeError(`maskedWeightGrad: ${name} has ${a.length} values, expected ${n}`);
  const k = kernels();
  const [px, pd, pw, pg] = layout(k, [x.length * 4, dy.length * 4, w.length * 4, g.length * 4]);
  put(k, px, x);
  put(k, pd, dy);
  put(k, pw, w);
  k.maskedWeightGrad(px, pd, pw, pg, tokens, inDim, outDim);
  take(k, pg, g);
}

/** c [m, n] = a [m, k] · b [k, n], row-major. */
export function gemm(a: Float32Array, b: Float32Array, m: number, k: number, n: number, c: Float32Array): void {
  for (const [name, x, len] of [["a", a, m * k], ["b", b, k * n], ["c", c, m * n]] as const)
    if (x.length !== len) throw new RangeError(`gemm: ${name} has ${x.length} values, expected ${len}`);
  const ks = kernels();
  const [pa, pb, pc] = layout(ks, [a.length * 4, b.length * 4 + 16, c.length * 4]); // the kernel reads up to 3 values past b
  put(ks, pa, a);
  put(ks, pb, b);
  ks.gemm(pa, pb, pc, m, k, n);
  take(ks, pc, c);
}
