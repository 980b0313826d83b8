import * as tf from "@tensorflow/tfjs";
import type { LlamaModel, ForwardOptions } from "./config.js";
import { project } from "./project.js";
import { attend } from "./attend.js";
import { applyRope, ropeTables } from "./rope.js";
import { causalMask } from "./causal-mask.js";
import { causalAttention } from "./causal-attention.js";
import { fusedKernelsSupported } from "../kernels/fused-kernel.js";
import { checkSlidingWindow } from "./sliding-window.js";
import { rmsNorm } from "./rms-norm.js";
import { weight } from "./weights.js";

/**
 * q or k [tokens, heads·headDim] after its projection: Qwen3's per-head RMSNorm (self_attn.q_norm / k_norm, weight
 * [headDim]) before RoPE; the projection itself where the model has none.
 */
function headNorm(model: LlamaModel, name: string, t: tf.Tensor2D): tf.Tensor2D {
  if (!model.config.qkNorm) return t;
  const hd = model.config.headDim;
  return tf.reshape(rmsNorm(tf.reshape(t, [-1, hd]) as tf.Tensor2D, weight(model, `${name}.weight`), model.config.rmsNormEps), t.shape);
}

/**
 * LlamaAttention (module model.layers.N.self_attn; Qwen3Attention with q/k norms): x [batch·seq, hidden] → [batch·seq, hidden].
 * On wasm and cpu, RoPE and the causal grouped-query attention are one fused op (causal-attention.ts). Elsewhere
 * (webgpu, tensorflow) the composite path below: grouped-query attention without repeating k/v, the g =
 * heads/kvHeads query heads that share a kv head stacked along the query axis ([g·seq, headDim] per kv head) so one
 * product serves them all, with products per (sequence, kv head) as 2-D matMuls.
 */
export function selfAttention(model: LlamaModel, layer: number, x: tf.Tensor2D, batch: number, seq: number, opts?: ForwardOptions): tf.Tensor2D {
  checkSlidingWindow(model.config, seq);
  return fusedKernelsSupported() ? fusedSelfAttention(model, layer, x, batch, seq, opts) : compositeSelfAttention(model, layer, x, batch, seq, opts);
}

function fusedSelfAttention(model: LlamaModel, layer: number, x: tf.Tensor2D, batch: number, seq: number, opts?: ForwardOptions): tf.Tensor2D {
  return tf.tidy(() => {
    const c = model.config;
    const p = `model.layers.${layer}.self_attn`;
    const q = headNorm(model, `${p}.q_norm`, project(model, `${p}.q_proj`, x, opts, c.attentionBias));
    const k = headNorm(model, `${p}.k_norm`, project(model, `${p}.k_proj`, x, opts, c.attentionBias));
    const v = project(model, `${p}.v_proj`, x, opts, c.attentionBias);
    const spec = { batch, seq, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim, rope: c };
    return project(model, `${p}.o_proj`, causalAttention(q, k, v, spec), opts);
  });
}

/** The same function from TF.js ops: the reference the fused op is tested against, and the path of other backends. */
export function compositeSelfAttention(model: LlamaModel, layer: number, x: tf.Tensor2D, batch: number, seq: number, opts?: ForwardOptions): tf.Tensor2D {
  return tf.tidy(() => {
    const c = model.config;
    const p = `model.layers.${layer}.self_attn`;
    const nh = c.numAttentionHeads;
    const nkv = c.numKeyValueHeads;
    const hd = c.headDim;
    const g = nh / nkv;
    const heads = (t: tf.Tensor2D, n: number) => tf.transpose(tf.reshape(t, [batch, seq, n, hd]), [0, 2, 1, 3]);
    const q = heads(headNorm(model, `${p}.q_norm`, project(model, `${p}.q_proj`, x, opts, c.attentionBias)), nh);
    const k = heads(headNorm(model, `${p}.k_norm`, project(model, `${p}.k_proj`, x, opts, c.attentionBias)), nkv);
    const v = heads(project(model, `${p}.v_proj`, x, opts, c.attentionBias), nkv);
    const qr = applyRope(q, ropeTables(seq, c, 1 / Math.sqrt(hd))); // 1/√d folded into q's tables
    const krT = tf.transpose(applyRope(k, ropeTables(seq, c)), [0, 1, 3, 2]); // [batch, nkv, hd, seq]
    const qs = tf.unstack(tf.reshape(qr, [batch * nkv, g * seq, hd])) as tf.Tensor2D[];
    const ks = tf.unstack(tf.reshape(krT, [batch * nkv, hd, seq])) as tf.Tensor2D[];
    const vs = tf.unstack(tf.reshape(v, [batch * nkv, seq, hd])) as tf.Tensor2D[];
    const mask = causalMask(seq, g);
    const ctx = qs.map((qi, i) => attend(qi, ks[i], vs[i], mask)); // [g·seq, hd] each
    const merged = tf.reshape(tf.transpose(tf.reshape(tf.stack(ctx), [batch, nh, seq, hd]), [0, 2, 1, 3]), [batch * seq, nh * hd]) as tf.Tensor2D;
    return project(model, `${p}.o_proj`, merged, opts);
  });
}
