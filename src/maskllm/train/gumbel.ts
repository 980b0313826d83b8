// Gumbel-softmax over the candidates (maskllm.md §1): ỹ = softmax((κπ + g)/τ), soft mask M̃ = ỹ·S. The noise arrives
// pre-divided by τ (scaled in JS while it is drawn) to save one op.
import * as tf from "@tensorflow/tfjs";

// The training step takes these forward pieces and differentiates them in closed form (micro-batch.ts).

/** Soft ỹ [groups, C] from logits [groups, C] and noise/τ [groups, C]. */
export function gumbelProbs(logits: tf.Tensor2D, noiseOverTau: tf.Tensor2D, kappa: number, tau: number): tf.Tensor2D {
  return tf.softmax(tf.add(tf.mul(logits, kappa / tau), noiseOverTau)) as tf.Tensor2D;
}

/** One-hot of each group's most probable candidate (the forward of hard mode). */
export function hardCandidates(probs: tf.Tensor2D): tf.Tensor2D {
  return tf.oneHot(tf.argMax(probs, -1), probs.shape[1]).asType("float32") as tf.Tensor2D;
}
