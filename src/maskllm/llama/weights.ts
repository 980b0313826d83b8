import type * as tf from "@tensorflow/tfjs";
import type { LlamaModel } from "./config.js";

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelError";
  }
}

/** The weight, or a ModelError naming it (a checkpoint that lacks a tensor must not fail deep inside TF.js). */
export function weight<T extends tf.Tensor>(model: LlamaModel, name: string): T {
  const w = model.weights.get(name);
  if (!w) throw new ModelError(`model weight '${name}' is missing`);
  return w as T;
}
