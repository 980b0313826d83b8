// Gumbel noise from the WebAssembly kernel (assembly/gumbel.ts): the same mulberry32 stream as rng.ts, turned into
// float32 Gumbel(0, 1) samples four at a time.
import { GUMBEL_WASM_BASE64 } from "./gumbel-binary.js";
import { callKernel, lazyKernels, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  gumbel(out: number, n: number, seed: number, scale: number): void;
}

const kernels = lazyKernels<Exports>(GUMBEL_WASM_BASE64);

/** out[i] = scale·(−log(−log uᵢ)) for the uniforms uᵢ of mulberry32(seed), i < out.length. */
export function gumbelNoiseInto(out: Float32Array, seed: number, scale = 1): void {
  const k = kernels();
  callKernel(k, [], [out], 0, ([at]) => k.gumbel(at, out.length, seed >>> 0, scale)); // 16 bytes of room: whole vectors
}
