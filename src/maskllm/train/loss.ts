// The LM half of the MaskLLM objective (maskllm.md §3): next-token cross-entropy. The regulariser
// −λ_t·Σ‖stopgrad(W) ⊙ M̃‖² and its gradient are in micro-batch.ts (logitsGradient).
import * as tf from "@tensorflow/tfjs";

// Weighted mean NLL of logits [N, V] against one-hot targets [N, V] (rows with weight 0 drop out), with the fused
// gradient w·(softmax − onehot)/Σw. Working on all B·T rows avoids slicing off the last position (a copy of the
// logits forward and a pad backward).
// The softmax kernel (XNNPACK on wasm) is ~7× faster than the backend's scalar Exp, so everything comes from one
// softmax p: with m = max(x) and p_max = max(p) = 1/Σexp(x − m), logsumexp(x) = m − log(p_max). p_max ≥ 1/V, so
// the log never sees an underflowed probability, and nll = lse − x_target is as exact as the direct form.
const crossEntropy = tf.customGrad(((x: tf.Tensor, onehot: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
  const p = tf.softmax(x);
  const lse = tf.sub(tf.max(x, -1, true), tf.log(tf.max(p, -1, true)));
  const nll = tf.sub(lse, tf.sum(tf.mul(x, onehot), -1, true)); // [N, 1]
  const wsum = tf.sum(w);
  save([p, onehot, w, wsum]);
  return {
    value: tf.div(tf.sum(tf.mul(nll, w)), wsum),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sp, soh, sw, sws] = saved;
      const scale = tf.mul(tf.div(sw, sws), dy); // [N, 1]
      return [tf.mul(tf.sub(sp, soh), scale), tf.zerosLike(soh), tf.zerosLike(sw)];
    },
  };
}) as any) as (x: tf.Tensor2D, onehot: tf.Tensor2D, w: tf.Tensor2D) => tf.Scalar;

/** Mean next-token NLL over the seq−1 predicted positions; logits [B, T, V], ids the same B·T tokens row-major. */
export function nextTokenLoss(logits: tf.Tensor3D, ids: Int32Array): tf.Scalar {
  const [b, t, v] = logits.shape;
  if (ids.length !== b * t) throw new RangeError(`nextTokenLoss: ${ids.length} ids for logits [${b}, ${t}, ${v}]`);
  const targets = new Int32Array(b * t);
  const w = new Float32Array(b * t);
  for (let r = 0; r < b; r++)
    for (let i = 0; i < t; i++) {
      const k = r * t + i;
      if (i + 1 < t) {
        targets[k] = ids[k + 1];
        w[k] = 1;
      } else targets[k] = -1; // oneHot gives a zero row; its weight is 0 anyway
    }
  const onehot = tf.oneHot(tf.tensor1d(targets, "int32"), v).asType("float32") as tf.Tensor2D;
  return crossEntropy(tf.reshape(logits, [b * t, v]) as tf.Tensor2D, onehot, tf.tensor2d(w, [b * t, 1]));
}
