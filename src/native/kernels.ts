// Turns the native linear products and attention on or off for this thread (config.nativeKernels: "auto" uses the
// addon where it loads, "off" keeps wasm). The thread that owns an executor decides; an op pool's threads are told
// the same mode (src/parallel/op-pool.ts), so every part of an op runs the same code.
import { setLinearKernels } from "../maskllm/host/linear-kernels.js";
import { tryLoadNativeAddon } from "./loader.js";

export type NativeKernelsMode = "auto" | "off";

let mode: NativeKernelsMode = "off";

/** What this thread's linear products run on: the addon's tile ("avx512", "avx2") or "wasm", with why. */
export interface NativeKernelsState {
  kernels: string;
  reason?: string;
}

export function useNativeKernels(want: NativeKernelsMode): NativeKernelsState {
  mode = want;
  if (want === "off") {
    setLinearKernels(undefined);
    return { kernels: "wasm", reason: "native kernels turned off" };
  }
  const { addon, reason } = tryLoadNativeAddon();
  setLinearKernels(addon);
  return addon ? { kernels: addon.isa() } : { kernels: "wasm", reason };
}

/** The mode this thread last chose (what its op pool's threads are told). */
export function nativeKernelsMode(): NativeKernelsMode {
  return mode;
}
