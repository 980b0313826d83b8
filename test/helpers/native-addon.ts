// The native addon as the tests of src/native see it: loaded (or why not, to skip on), the tiles to run each check
// with (the CPU's best and, on AVX-512, AVX2 too), and an after() hook that puts the best tile and the wasm kernels
// back; plus the seeded generator their inputs come from.
import { after } from "node:test";
import { setLinearKernels } from "../../src/maskllm/host/linear-kernels.js";
import { tryLoadNativeAddon, type NativeAddon } from "../../src/native/loader.js";

export interface NativeAddonUnderTest {
  addon?: NativeAddon;
  /** false, or why the file's tests skip */
  skip: string | false;
  /** the CPU's best tile ("none" without the addon) */
  best: string;
  isas: string[];
}

export function nativeAddonUnderTest(): NativeAddonUnderTest {
  const { addon, reason } = tryLoadNativeAddon();
  const best = addon?.isa() ?? "none";
  after(() => {
    addon?.setIsa(best);
    setLinearKernels(undefined);
  });
  return { addon, skip: addon ? false : `native addon unavailable: ${reason}`, best, isas: best === "avx512" ? ["avx512", "avx2"] : [best] };
}

/** Uniform values in (0, 1) from a 32-bit LCG: the same inputs on every run. */
export function seededUniform(seed: number): () => number {
  let s = seed;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
}
