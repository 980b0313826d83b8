// The Gumbel-softmax mask as plain autograd (PyTorch's gumbel_softmax, hard=True as straight-through): the oracle
// that the training step's closed-form gradient (src/maskllm/train/micro-batch.ts) is checked against.
import * as tf from "@tensorflow/tfjs";
import { gumbelProbs, hardCandidates } from "../../src/maskllm/train/gumbel.js";

// forward one-hot of the argmax, backward the identity
const straightThrough = tf.customGrad(((y: tf.Tensor) => {
  return { value: hardCandidates(y as tf.Tensor2D), gradFunc: (dy: tf.Tensor) => dy };
}) as any) as (y: tf.Tensor2D) => tf.Tensor2D;

/** ỹ [groups, C], differentiable (straight-through when hard). */
export function gumbelSoftmax(logits: tf.Tensor2D, noiseOverTau: tf.Tensor2D, kappa: number, tau: number, hard = false): tf.Tensor2D {
  const y = gumbelProbs(logits, noiseOverTau, kappa, tau);
  return hard ? straightThrough(y) : y;
}
