// Gumbel-softmax over the candidates (maskllm.md §1): ỹ = softmax((κπ + g)/τ), soft mask M̃ = ỹ·S reshaped to the
// weight. The noise arrives pre-divided by τ (scaled in JS while it is drawn) to save one op per layer.
import * as tf from "@tensorflow/tfjs";

// The training step takes these forward pieces and differentiates them in closed form (micro-batch.ts);
// gumbelSoftmax is the same computation for autograd.

/** Soft ỹ [groups, C] from logits [groups, C] and noise/τ [groups, C]. */
export function gumbelProbs(logits: tf.Tensor2D, noiseOverTau: tf.Tensor2D, kappa: number, tau: number): tf.Tensor2D {
  return tf.softmax(tf.add(tf.mul(logits, kappa / tau), noiseOverTau)) as tf.Tensor2D;
}

/** One-hot of each group's most probable candidate (the forward of hard mode). */
export function hardCandidates(probs: tf.Tensor2D): tf.Tensor2D {
  return tf.oneHot(tf.argMax(probs, -1), probs.shape[1]).asType("float32") as tf.Tensor2D;
}

// Forward one-hot of the argmax, backward the identity: PyTorch's hard=True straight-through estimator.
const straightThrough = tf.customGrad(((y: tf.Tensor) => {
  return { value: hardCandidates(y as tf.Tensor2D), gradFunc: (dy: tf.Tensor) => dy };
}) as any) as (y: tf.Tensor2D) => tf.Tensor2D;

/** ỹ [groups, C], differentiable (straight-through when hard). */
export function gumbelSoftmax(logits: tf.Tensor2D, noiseOverTau: tf.Tensor2D, kappa: number, tau: number, hard = false): tf.Tensor2D {
  const y = gumbelProbs(logits, noiseOverTau, kappa, tau);
  return hard ? straightThrough(y) : y;
}

/** M̃ [out, in] = ỹ·S with S [C, M]. */
export function softMask(probs: tf.Tensor2D, candidates: tf.Tensor2D, shape: [number, number]): tf.Tensor2D {
  return tf.reshape(tf.matMul(probs, candidates), shape);
}
