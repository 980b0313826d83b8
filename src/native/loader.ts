// Loads the native GEMM addon (gemm.cc, built by scripts/build-native.mjs into build/native/) when it is there and
// this CPU has AVX2+FMA; otherwise undefined, and the host trainer keeps its wasm kernels.
import { createRequire } from "node:module";

/** The addon's functions (gemm.cc). */
export interface NativeAddon {
  /** forward: out [tokens, out] (+)= a·(w ⊙ M)ᵀ; else out [tokens, in] (+)= a·(w ⊙ M); M: none, mask, or soft (probs, s, m) */
  linear(forward: boolean, a: Float32Array, w: Float32Array, mask: Float32Array | null, probs: Float32Array | null, s: Float32Array | null, m: number, tokens: number, inDim: number, outDim: number, out: Float32Array, accumulate: boolean): void;
  /** g [r1 − r0, in] = (dy[:, r0:r1]ᵀ·x) ⊙ w[r0:r1] */
  maskedWeightGradRows(x: Float32Array, dy: Float32Array, w: Float32Array, tokens: number, inDim: number, outDim: number, r0: number, r1: number, g: Float32Array): void;
  /** the register tile in use: "avx512", "avx2", or "none" (no AVX2+FMA: unusable) */
  isa(): string;
  /** uses a tile the CPU supports (benchmarks, tests); returns the one in use */
  setIsa(isa: string): string;
}

/** The addon's path, relative to this file. */
export const NATIVE_ADDON_PATH = "../../build/native/maskforge-native.node";

/** The addon, or undefined (with why) when it is missing, fails to load, or finds no AVX2+FMA. */
export function tryLoadNativeAddon(): { addon?: NativeAddon; reason?: string } {
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
    if (addon.isa() === "none") return { reason: "this CPU has no AVX2+FMA" };
    return { addon };
  } catch (err) {
    return { reason: err instanceof Error ? err.message.split("\n")[0] : String(err) };
  }
}

export function loadNativeAddon(): NativeAddon | undefined {
  return tryLoadNativeAddon().addon;
}
