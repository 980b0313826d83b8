// Loads the native addon (addon.cc + gemm.cc + attention.cc, built by scripts/build-native.mjs into build/native/)
// when it is there and this CPU has AVX2+FMA; otherwise undefined, and the host trainer keeps its wasm kernels.
import { createRequire } from "node:module";
import type { LinearKernels } from "../maskllm/host/linear-kernels.js";

/**
 * The addon's functions (addon.cc): the host trainer's linear products, lm_head loss, causal attention and mask
 * math, and its tile. All present in an addon built from this tree; runRange still checks each optional kernel, so a
 * stale build without the newer ones keeps their wasm versions.
 */
export interface NativeAddon extends Required<LinearKernels> {
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
