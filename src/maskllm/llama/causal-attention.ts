import * as tf from "@tensorflow/tfjs";
import { attentionBackward, attentionForward, type AttentionShape, type RopeValues } from "../kernels/attention-module.js";
import { fusedOp } from "../kernels/fused-kernel.js";
import { attentionRopeValues, type RopeConfig } from "./rope.js";

// RoPE + causal grouped-query attention as one differentiable op over the projections' outputs, run by the
// WebAssembly kernel (kernels/assembly/attention.ts) where fusedKernelsSupported(): no transposes into heads, no
// per-(sequence, head) ops, no score matrices in memory. Other backends keep the composite path in attention.ts.

export interface CausalAttentionSpec extends AttentionShape {
  rope: RopeConfig;
}

function ropeValues(a: CausalAttentionSpec): RopeValues {
  return attentionRopeValues(a.seq, a.rope);
}

const attention = fusedOp<CausalAttentionSpec>(
  "MaskforgeCausalAttention",
  { inputs: ["q", "k", "v"], outputs: ["o", "lse"] },
  (m, { q, k, v }, a) => m.outputs([q.shape, [a.batch, a.heads, a.seq]], ([o, lse]) => attentionForward(a, m.read(q), m.read(k), m.read(v), ropeValues(a), o, lse)),
  (m, { q, k, v, o, lse, dy }, a) =>
    m.outputs([q.shape, k.shape, v.shape], ([dq, dk, dv]) => attentionBackward(a, m.read(q), m.read(k), m.read(v), m.read(o), m.read(lse), m.read(dy), ropeValues(a), dq, dk, dv)),
);

/**
 * softmax(rope(q)·rope(k)ᵀ/√headDim + causal)·v for every sequence and head: q [batch·seq, heads·headDim] and
 * k, v [batch·seq, kvHeads·headDim] as the projections give them, RoPE not yet applied; returns the o_proj input
 * [batch·seq, heads·headDim]. Differentiable in q, k and v (the backward recomputes probabilities from each row's
 * log-sum-exp). Only where fusedKernelsSupported().
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, spec: CausalAttentionSpec): tf.Tensor2D {
  return attention([q, k, v], spec) as tf.Tensor2D;
}
