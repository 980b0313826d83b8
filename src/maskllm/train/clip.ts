// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_): scale all grads by min(1, max/(‖g‖+1e-6)).
// Stays on the backend: no sync to read the norm inside the step.
import * as tf from "@tensorflow/tfjs";

export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
}

export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { clipped: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = globalNorm([...grads.values()]);
  const coef = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
  const clipped = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) clipped.set(k, tf.mul(g, coef));
  return { clipped, norm };
}
