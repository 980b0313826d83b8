// The LM half of the MaskLLM objective (maskllm.md §3): next-token cross-entropy. The regulariser
// −λ_t·Σ‖stopgrad(W) ⊙ M̃‖² and its gradient are in micro-batch.ts (logitsGradient).
import * as tf from "@tensorflow/tfjs";
import { fusedKernelsSupported, fusedOp } from "../kernels/fused-kernel.js";
import { crossEntropyBackward, crossEntropyForward } from "../kernels/loss-module.js";

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

// Where fused kernels run (kernels/assembly/loss.ts): the same loss from the ids themselves, no one-hot tensor.
// The forward keeps each row's log-sum-exp; the backward reads dy inside its kernel (no sync in the step).
interface LossAttrs {
  targets: Int32Array;
  weights: Float32Array;
  /** Σ weights */
  count: number;
}

const fusedCrossEntropy = fusedOp<LossAttrs>(
  "MaskforgeCrossEntropy",
  { inputs: ["x"], outputs: ["loss", "lse"] },
  (k, { x }, a) => {
    const [n, v] = x.shape;
    return k.outputs([[], [n]], ([loss, lse]) => {
      loss[0] = crossEntropyForward(k.read(x), a.targets, a.weights, n, v, lse) / a.count;
    });
  },
  (k, { x, lse, dy }, a) => {
    const [n, v] = x.shape;
    const s = k.read(dy)[0] / a.count;
    const scale = a.weights.map((w) => w * s);
    return k.outputs([x.shape], ([dx]) => crossEntropyBackward(k.read(x), a.targets, scale, k.read(lse), n, v, dx));
  },
);

/** Row k predicts ids[k + 1] within its window (weight 1); each window's last row predicts nothing (weight 0). */
function nextTokenTargets(ids: Int32Array, b: number, t: number): { targets: Int32Array; weights: Float32Array } {
  const targets = new Int32Array(b * t);
  const weights = new Float32Array(b * t);
  for (let r = 0; r < b; r++)
    for (let i = 0; i + 1 < t; i++) {
      const k = r * t + i;
      targets[k] = ids[k + 1];
      weights[k] = 1;
    }
  return { targets, weights };
}

/** Mean next-token NLL over the seq−1 predicted positions; logits [B, T, V], ids the same B·T tokens row-major. */
export function nextTokenLoss(logits: tf.Tensor3D, ids: Int32Array): tf.Scalar {
  const [b, t, v] = logits.shape;
  if (ids.length !== b * t) throw new RangeError(`nextTokenLoss: ${ids.length} ids for logits [${b}, ${t}, ${v}]`);
  if (!(fusedKernelsSupported() && v % 4 === 0 && logits.dtype === "float32")) return compositeNextTokenLoss(logits, ids);
  const { targets, weights } = nextTokenTargets(ids, b, t);
  return fusedCrossEntropy([tf.reshape(logits, [b * t, v])], { targets, weights, count: b * (t - 1) }) as tf.Scalar;
}

/** The same loss from TF.js ops: other backends' path, and the fused kernel's test reference. */
export function compositeNextTokenLoss(logits: tf.Tensor3D, ids: Int32Array): tf.Scalar {
  const [b, t, v] = logits.shape;
  const { targets, weights } = nextTokenTargets(ids, b, t);
  for (let r = 0; r < b; r++) targets[r * t + t - 1] = -1; // oneHot gives a zero row; its weight is 0 anyway
  const onehot = tf.oneHot(tf.tensor1d(targets, "int32"), v).asType("float32") as tf.Tensor2D;
  return crossEntropy(tf.reshape(logits, [b * t, v]) as tf.Tensor2D, onehot, tf.tensor2d(weights, [b * t, 1]));
}
