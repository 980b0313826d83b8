import * as tf from "@tensorflow/tfjs";

/** LlamaRMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight (no mean subtraction, no bias). */
export function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
    return tf.mul(tf.mul(x, inv), weight) as T;
  });
}
