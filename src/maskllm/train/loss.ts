// The MaskLLM objective (maskllm.md §3): next-token cross-entropy minus λ_t·Σ‖stopgrad(W) ⊙ M̃‖².
import * as tf from "@tensorflow/tfjs";

// Mean NLL of logits [N, V] against one-hot targets [N, V], with the fused gradient (softmax − onehot)/N.
const crossEntropy = tf.customGrad(((x: tf.Tensor, onehot: tf.Tensor, save: tf.GradSaveFunc) => {
  const lse = tf.logSumExp(x, -1, true);
  const nll = tf.sub(lse, tf.sum(tf.mul(x, onehot), -1, true));
  save([x, onehot, lse]);
  return {
    value: tf.mean(nll),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, soh, slse] = saved;
      const scale = tf.div(dy, sx.shape[0]);
      return [tf.mul(tf.sub(tf.exp(tf.sub(sx, slse)), soh), scale), tf.zerosLike(soh)];
    },
  };
}) as any) as (x: tf.Tensor2D, onehot: tf.Tensor2D) => tf.Scalar;

/** Mean next-token NLL over the seq−1 predicted positions; logits [B, T, V], ids int32 [B, T]. */
export function nextTokenLoss(logits: tf.Tensor3D, ids: tf.Tensor2D): tf.Scalar {
  const [b, t, v] = logits.shape;
  const x = tf.reshape(tf.slice(logits, [0, 0, 0], [b, t - 1, v]), [b * (t - 1), v]) as tf.Tensor2D;
  const targets = tf.reshape(tf.slice(ids, [0, 1], [b, t - 1]), [-1]) as tf.Tensor1D;
  return crossEntropy(x, tf.oneHot(targets, v).asType("float32") as tf.Tensor2D);
}

/** ‖stopgrad(W) ⊙ M̃‖² given W² precomputed (a constant, so the gradient reaches only the mask). */
export function maskedWeightNorm(weightSquared: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.sum(tf.mul(weightSquared, tf.square(mask)));
}
