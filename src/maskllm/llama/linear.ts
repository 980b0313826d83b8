import * as tf from "@tensorflow/tfjs";

/**
 * The one seam every projection goes through, so pruning and MaskLLM can mask weights without touching the model.
 * x: [tokens, in]; weight: [out, in] as stored in HF checkpoints; mask: same shape as weight (hard 0/1 or soft).
 * Returns [tokens, out] = x · (weight ⊙ mask)ᵀ (+ bias).
 */
export function linear(x: tf.Tensor2D, weight: tf.Tensor2D, mask?: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const w = mask ? tf.mul<tf.Tensor2D>(weight, mask) : weight;
  const y = tf.matMul(x, w, false, true) as tf.Tensor2D;
  return bias ? tf.add<tf.Tensor2D>(y, bias) : y;
}
