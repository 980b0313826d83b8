import * as tf from "@tensorflow/tfjs";
import { attentionBackward, attentionForward, type AttentionShape, type RopeValues } from "../kernels/attention-module.js";
import { fusedKernel } from "../kernels/fused-kernel.js";
import { ropeTableValues } from "./rope.js";

// RoPE + causal grouped-query attention as one differentiable op over the projections' outputs, run by the
// WebAssembly kernel (kernels/assembly/attention.ts) where fusedKernelsSupported(): no transposes into heads, no
// per-(sequence, head) ops, no score matrices in memory. Other backends keep the composite path in attention.ts.

export interface CausalAttentionSpec extends AttentionShape {
  ropeTheta: number;
}

function ropeValues(a: CausalAttentionSpec): RopeValues {
  const q = ropeTableValues(a.seq, a.headDim, a.ropeTheta, 1 / Math.sqrt(a.headDim)); // the score scale, folded into q
  const k = ropeTableValues(a.seq, a.headDim, a.ropeTheta);
  return { cosQ: q.cos, sinQ: q.sin, cosK: k.cos, sinK: k.sin };
}

const forwardKernel = fusedKernel<CausalAttentionSpec>("MaskforgeCausalAttention", (m, { q, k, v }, a) =>
  m.outputs([q.shape, [a.batch, a.heads, a.seq]], ([o, lse]) => attentionForward(a, m.read(q), m.read(k), m.read(v), ropeValues(a), o, lse)),
);

const backwardKernel = fusedKernel<CausalAttentionSpec>("MaskforgeCausalAttentionGrad", (m, { q, k, v, o, lse, dy }, a) =>
  m.outputs([q.shape, k.shape, v.shape], ([dq, dk, dv]) => attentionBackward(a, m.read(q), m.read(k), m.read(v), m.read(o), m.read(lse), m.read(dy), ropeValues(a), dq, dk, dv)),
);

/**
 * softmax(rope(q)·rope(k)ᵀ/√headDim + causal)·v for every sequence and head: q [batch·seq, heads·headDim] and
 * k, v [batch·seq, kvHeads·headDim] as the projections give them, RoPE not yet applied; returns the o_proj input
 * [batch·seq, heads·headDim]. Differentiable in q, k and v (the backward recomputes probabilities from each row's
 * log-sum-exp). Only where fusedKernelsSupported().
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, spec: CausalAttentionSpec): tf.Tensor2D {
  const op = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, lse] = forwardKernel({ q: qi, k: ki, v: vi }, spec);
    save([qi, ki, vi, o, lse]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sq, sk, sv, so, sl] = saved;
        return backwardKernel({ q: sq, k: sk, v: sv, o: so, lse: sl, dy: Array.isArray(dy) ? dy[0] : dy }, spec);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D;
  return op(q, k, v);
}
