import * as tf from "@tensorflow/tfjs";
import { matMul2d } from "./matmul.js";
import { maskedLinear, maskedLinearSupported } from "./masked-linear.js";

/**
 * The one seam every projection goes through, so pruning and MaskLLM can mask weights without touching the model.
 * x: [tokens, in]; weight: [out, in] as stored in HF checkpoints; mask: same shape as weight (hard 0/1 or soft).
 * Returns [tokens, out] = x · (weight ⊙ mask)ᵀ (+ bias).
 * The weight is transposed explicitly (O(out·in), cheap next to the O(tokens·out·in) product) so the product
 * stays on the fast untransposed path; see matmul.ts. A masked product is one op with its own gradients where the
 * backend allows (masked-linear.ts).
 */
export function linear(x: tf.Tensor2D, weight: tf.Tensor2D, mask?: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    let y: tf.Tensor2D;
    if (mask && maskedLinearSupported(weight, x)) y = maskedLinear(x, weight, mask);
    else {
      const w = mask ? tf.mul<tf.Tensor2D>(weight, mask) : weight;
      y = matMul2d(x, tf.transpose(w));
    }
    return bias ? tf.add<tf.Tensor2D>(y, bias) : y;
  });
}
