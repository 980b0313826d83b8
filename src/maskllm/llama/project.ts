import type * as tf from "@tensorflow/tfjs";
import type { LlamaModel, ForwardOptions } from "./config.js";
import { weight } from "./weights.js";
import { linear } from "./linear.js";

/** The projection `prefix + name` through linear(), with its mask, bias and calibration hook. */
export function project(model: LlamaModel, prefix: string, x: tf.Tensor2D, opts: ForwardOptions | undefined, withBias = false): tf.Tensor2D {
  const name = `${prefix}.weight`;
  opts?.onLinearInput?.(name, x);
  const bias = withBias ? weight<tf.Tensor1D>(model, `${prefix}.bias`) : undefined;
  return linear(x, weight<tf.Tensor2D>(model, name), opts?.mask?.(name), bias);
}
