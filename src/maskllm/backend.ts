// Picks the TF.js backend once per process. Native TensorFlow (tfjs-node[-gpu]) is an optional dependency that
// cannot install everywhere, so it is tried by dynamic import; WASM (SIMD) is the portable fast path, cpu the last resort.
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerWasmShims } from "./kernels/wasm-shims.js";

export type BackendChoice = "auto" | "tensorflow" | "wasm" | "cpu" | "webgpu";

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackendError";
  }
}

// Optional packages are imported through a variable: tsc must not require their types, and the ML core's lint rule
// (TF.js only) is about static dependencies, while these are opt-in native accelerators that may be absent.
async function tryImport(specifier: string): Promise<unknown | undefined> {
  try {
    return await import(specifier);
  } catch {
    return undefined;
  }
}

async function tryTensorflow(): Promise<boolean> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    if ((await tryImport(pkg)) === undefined) continue;
    if (await tf.setBackend("tensorflow")) return true;
  }
  return false;
}

async function setWebgpu(): Promise<void> {
  const dawn = (await tryImport("webgpu")) as { create: (flags: string[]) => unknown; globals: object } | undefined;
  if (!dawn) throw new BackendError("TF_BACKEND=webgpu needs the optional npm package 'webgpu' (Dawn), which is not installed");
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as { navigator?: { gpu?: unknown } };
  // Node 20 has no navigator; the webgpu backend registers itself at import time only if navigator.gpu exists.
  if (!g.navigator) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  g.navigator!.gpu = dawn.create([]);
  const adapter = await (g.navigator!.gpu as { requestAdapter: () => Promise<unknown> }).requestAdapter();
  if (!adapter)
    throw new BackendError(
      "TF_BACKEND=webgpu: Dawn found no usable GPU adapter (on Linux it needs a Vulkan driver: libvulkan1 and a GPU ICD, " +
        "or Mesa >= 25 lavapipe; see docs/webgpu.md). Use TF_BACKEND=wasm instead.",
    );
  if ((await tryImport("@tensorflow/tfjs-backend-webgpu")) === undefined)
    throw new BackendError("TF_BACKEND=webgpu needs @tensorflow/tfjs-backend-webgpu, which failed to load");
  if (!(await tf.setBackend("webgpu"))) throw new BackendError("TF_BACKEND=webgpu: the webgpu backend failed to initialise");
}

let chosen: string | undefined;

/** Selects the backend (call once per process before any TF work); returns the backend's name. */
export async function initBackend(choice: BackendChoice = "auto"): Promise<string> {
  if (chosen !== undefined && (choice === "auto" || choice === chosen || (choice === "tensorflow" && chosen === "tensorflow"))) return chosen;
  switch (choice) {
    case "tensorflow":
      if (!(await tryTensorflow()))
        throw new BackendError("TF_BACKEND=tensorflow needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, and neither loads here");
      break;
    case "webgpu":
      await setWebgpu();
      break;
    case "wasm":
      if (!(await tf.setBackend("wasm"))) throw new BackendError("TF_BACKEND=wasm: the WASM backend failed to initialise");
      break;
    case "cpu":
      await tf.setBackend("cpu");
      break;
    case "auto":
      if (!(await tryTensorflow()) && !(await tf.setBackend("wasm"))) await tf.setBackend("cpu");
      break;
    default:
      throw new BackendError(`unknown TF backend '${String(choice)}': use auto, tensorflow, wasm, cpu or webgpu`);
  }
  await tf.ready();
  registerWasmShims();
  chosen = tf.getBackend();
  return chosen;
}
