import * as tf from "@tensorflow/tfjs";
import type { LlamaModel, ForwardOptions } from "./config.js";
import { project } from "./project.js";
import { swigluBackward, swigluForward } from "../kernels/layers-module.js";
import { fusedKernelsSupported, fusedOp } from "../kernels/fused-kernel.js";

/** LlamaMLP (module model.layers.N.mlp), SwiGLU: down(silu(gate(x)) · up(x)); x [tokens, hidden]. */
export function mlp(model: LlamaModel, layer: number, x: tf.Tensor2D, opts?: ForwardOptions): tf.Tensor2D {
  return tf.tidy(() => {
    const p = `model.layers.${layer}.mlp`;
    const gate = project(model, `${p}.gate_proj`, x, opts);
    const up = project(model, `${p}.up_proj`, x, opts);
    return project(model, `${p}.down_proj`, swiglu(gate, up), opts);
  });
}

/** silu(gate)·up: one fused op where fusedKernelsSupported() (kernels/assembly/layers.ts), else TF.js ops. */
export function swiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return fusedKernelsSupported() ? (fused([gate, up], {}) as tf.Tensor2D) : compositeSwiglu(gate, up);
}

export function compositeSwiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D);
}

// the forward also hands out σ(gate), which the backward would otherwise recompute (exp and division: most of the cost)
const fused = fusedOp<object>(
  "MaskforgeSwiglu",
  { inputs: ["g", "u"], outputs: ["h", "s"] },
  (m, { g, u }) => m.outputs([g.shape, g.shape], ([h, s]) => swigluForward(m.read(g), m.read(u), h, s)),
  (m, { g, u, s, dy }) => m.outputs([g.shape, u.shape], ([dg, du]) => swigluBackward(m.read(g), m.read(u), m.read(s), m.read(dy), dg, du)),
);
