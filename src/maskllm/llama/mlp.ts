import * as tf from "@tensorflow/tfjs";
import type { LlamaModel, ForwardOptions } from "./model.js";
import { project } from "./project.js";

/** LlamaMLP (module model.layers.N.mlp), SwiGLU: down(silu(gate(x)) · up(x)); x [tokens, hidden]. */
export function mlp(model: LlamaModel, layer: number, x: tf.Tensor2D, opts?: ForwardOptions): tf.Tensor2D {
  return tf.tidy(() => {
    const p = `model.layers.${layer}.mlp`;
    const gate = project(model, `${p}.gate_proj`, x, opts);
    const up = project(model, `${p}.up_proj`, x, opts);
    const h = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D;
    return project(model, `${p}.down_proj`, h, opts);
  });
}
