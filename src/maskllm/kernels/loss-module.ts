// The cross-entropy kernels (assembly/loss.ts) over typed arrays (copied in and out).
import { LOSS_WASM_BASE64 } from "./loss-binary.js";
import { callKernel, lazyKernels, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  crossEntropyForward(x: number, t: number, w: number, lse: number, n: number, v: number): number;
  crossEntropyBackward(x: number, t: number, scale: number, lse: number, dx: number, n: number, v: number): void;
}

const kernels = lazyKernels<Exports>(LOSS_WASM_BASE64);

function check(x: Float32Array, targets: Int32Array, n: number, v: number): void {
  if (v % 4 !== 0) throw new RangeError(`crossEntropy: the vocabulary (${v}) is not a multiple of 4`);
  if (x.length !== n * v || targets.length !== n) throw new RangeError(`crossEntropy: ${x.length} logits and ${targets.length} targets for ${n} rows of ${v}`);
}

/** lse [n] of each row of x [n, v]; returns Σ w·(lse − x[target]) over the rows with weight != 0. */
export function crossEntropyForward(x: Float32Array, targets: Int32Array, weights: Float32Array, n: number, v: number, lse: Float32Array): number {
  check(x, targets, n, v);
  const k = kernels();
  let total = 0;
  callKernel(k, [x, targets, weights], [lse], 0, ([px, pt, pw, pl]) => (total = k.crossEntropyForward(px, pt, pw, pl, n, v)));
  return total;
}

/** dx [n, v] = scale[i]·(softmax(x[i]) − onehot(target[i])), softmax from the forward's lse. */
export function crossEntropyBackward(x: Float32Array, targets: Int32Array, scale: Float32Array, lse: Float32Array, n: number, v: number, dx: Float32Array): void {
  check(x, targets, n, v);
  const k = kernels();
  callKernel(k, [x, targets, scale, lse], [dx], 0, ([px, pt, ps, pl, pd]) => k.crossEntropyBackward(px, pt, ps, pl, pd, n, v));
}
