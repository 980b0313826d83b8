import * as tf from "@tensorflow/tfjs";
import type { LlamaModel, ForwardOptions } from "./model.js";
import { project } from "./project.js";
import { swigluBackward, swigluForward } from "../kernels/layers-module.js";
import { fusedKernel, fusedKernelsSupported } from "../kernels/fused-kernel.js";

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
  if (!fusedKernelsSupported()) return compositeSwiglu(gate, up);
  const op = tf.customGrad(((g: tf.Tensor, u: tf.Tensor, save: tf.GradSaveFunc) => {
    const [h, s] = forwardKernel({ g, u }, {});
    save([g, u, s]);
    return {
      value: h,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => backwardKernel({ g: saved[0], u: saved[1], s: saved[2], dh: Array.isArray(dy) ? dy[0] : dy }, {}),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (g: tf.Tensor2D, u: tf.Tensor2D) => tf.Tensor2D;
  return op(gate, up);
}

export function compositeSwiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D);
}

// the forward also hands out σ(gate), which the backward would otherwise recompute (exp and division: most of the cost)
const forwardKernel = fusedKernel<object>("MaskforgeSwiglu", (m, { g, u }) => m.outputs([g.shape, g.shape], ([h, s]) => swigluForward(m.read(g), m.read(u), h, s)));
const backwardKernel = fusedKernel<object>("MaskforgeSwigluGrad", (m, { g, u, s, dh }) =>
  m.outputs([g.shape, u.shape], ([dg, du]) => swigluBackward(m.read(g), m.read(u), m.read(s), m.read(dh), dg, du)),
);
