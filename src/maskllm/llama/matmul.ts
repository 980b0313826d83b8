import * as tf from "@tensorflow/tfjs";

// TF.js's WASM backend sends BatchMatMul to XNNPACK only for a single, untransposed 2-D product; a transpose flag
// or a batch dimension falls back to a naive loop that measured 10-40× slower here. matMul's built-in gradient
// uses transpose flags, so this product keeps both its forward and its backward on the fast path.
export const matMul2d = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
