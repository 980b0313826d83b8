import * as tf from "@tensorflow/tfjs";
import { rmsNormBackward, rmsNormForward } from "../kernels/layers-module.js";
import { fusedKernelsSupported, fusedOp } from "../kernels/fused-kernel.js";

/** LlamaRMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight (no mean subtraction, no bias). */
export function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  return fusedKernelsSupported() && x.dtype === "float32" ? fusedRmsNorm(x, weight, eps) : compositeRmsNorm(x, weight, eps);
}

/** The same from TF.js ops: other backends' path, and the fused op's test reference. */
export function compositeRmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
    return tf.mul(tf.mul(x, inv), weight) as T;
  });
}

interface Attrs {
  rows: number;
  n: number;
  eps: number;
}

// One pass per row each way (kernels/assembly/layers.ts); the forward keeps each row's 1/√(mean x² + eps).
const fused = fusedOp<Attrs>(
  "MaskforgeRmsNorm",
  { inputs: ["x", "w"], outputs: ["y", "r"] },
  (m, { x, w }, a) => m.outputs([x.shape, [a.rows]], ([y, r]) => rmsNormForward(m.read(x), m.read(w), a.rows, a.n, a.eps, y, r)),
  (m, { x, w, r, dy }, a) => m.outputs([x.shape, w.shape], ([dx, dw]) => rmsNormBackward(m.read(x), m.read(w), m.read(r), m.read(dy), a.rows, a.n, dx, dw)),
);

function fusedRmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  const n = x.shape[x.rank - 1];
  return fused([x, weight], { rows: x.size / n, n, eps }) as T;
}
