// A LLaMA-family causal LM as a bag of HF-named weights plus pure functions over it (nanoGPT-style: one concept
// per file). Weights are plain tensors, not variables: training code wraps what it learns (masks) itself.
import * as tf from "@tensorflow/tfjs";
import type { ForwardOptions, LlamaConfig, LlamaModel } from "./config.js";
import { decoderLayer } from "./decoder-layer.js";
import { rmsNorm } from "./rms-norm.js";
import { clearRopeCache } from "./rope.js";
import { clearCausalMaskCache } from "./causal-mask.js";
import { weight } from "./weights.js";
import { matMul2d } from "./matmul.js";

export type { ForwardOptions, LlamaModel } from "./config.js";
export { decoderLayer } from "./decoder-layer.js";
export { ModelError, weight } from "./weights.js";

export const LINEAR_SUFFIXES = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
] as const;

/** Every q/k/v/o/gate/up/down weight name, in layer order. */
export function linearWeightNames(config: LlamaConfig): string[] {
  const names: string[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) for (const s of LINEAR_SUFFIXES) names.push(`model.layers.${l}.${s}.weight`);
  return names;
}

/** Every tensor name a checkpoint of this config must hold, with its shape. */
export function expectedWeightShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: h, intermediateSize: f, vocabSize: v, numAttentionHeads: nh, numKeyValueHeads: nkv, headDim: hd } = config;
  const m = new Map<string, number[]>([["model.embed_tokens.weight", [v, h]], ["model.norm.weight", [h]]]);
  if (!config.tieWordEmbeddings) m.set("lm_head.weight", [v, h]);
  for (let l = 0; l < config.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [h]);
    m.set(`${p}post_attention_layernorm.weight`, [h]);
    m.set(`${p}self_attn.q_proj.weight`, [nh * hd, h]);
    m.set(`${p}self_attn.k_proj.weight`, [nkv * hd, h]);
    m.set(`${p}self_attn.v_proj.weight`, [nkv * hd, h]);
    m.set(`${p}self_attn.o_proj.weight`, [h, nh * hd]);
    m.set(`${p}mlp.gate_proj.weight`, [f, h]);
    m.set(`${p}mlp.up_proj.weight`, [f, h]);
    m.set(`${p}mlp.down_proj.weight`, [h, f]);
    if (config.qkNorm) {
      m.set(`${p}self_attn.q_norm.weight`, [hd]);
      m.set(`${p}self_attn.k_norm.weight`, [hd]);
    }
    if (config.attentionBias) {
      m.set(`${p}self_attn.q_proj.bias`, [nh * hd]);
      m.set(`${p}self_attn.k_proj.bias`, [nkv * hd]);
      m.set(`${p}self_attn.v_proj.bias`, [nkv * hd]);
    }
  }
  return m;
}

/** Token embedding lookup: ids int32 [batch, seq] → [batch, seq, hidden]. No gradient flows into the ids or table here. */
export function embed(model: LlamaModel, ids: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, s] = ids.shape;
    const table = weight<tf.Tensor2D>(model, "model.embed_tokens.weight");
    return tf.reshape(tf.gather(table, tf.reshape(ids, [-1])), [b, s, model.config.hiddenSize]);
  });
}

/** Final RMSNorm and the classifier: [batch, seq, hidden] → logits [batch, seq, vocab]. */
export function lmHead(model: LlamaModel, hidden: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, s, h] = hidden.shape;
    const c = model.config;
    const x = rmsNorm(tf.reshape(hidden, [b * s, h]) as tf.Tensor2D, weight(model, "model.norm.weight"), c.rmsNormEps);
    const w = weight<tf.Tensor2D>(model, c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
    return tf.reshape(matMul2d(x, tf.transpose(w)), [b, s, c.vocabSize]);
  });
}

/** Logits [batch, seq, vocab] for token ids [batch, seq]. */
export function forward(model: LlamaModel, ids: tf.Tensor2D, opts?: ForwardOptions): tf.Tensor3D {
  return tf.tidy(() => {
    let h = embed(model, ids);
    for (let l = 0; l < model.config.numHiddenLayers; l++) h = decoderLayer(model, l, h, opts);
    return lmHead(model, h);
  });
}

/** Frees the weights and the shape caches (RoPE tables, causal masks). */
export function disposeModel(model: LlamaModel): void {
  for (const w of model.weights.values()) w.dispose();
  model.weights.clear();
  clearRopeCache();
  clearCausalMaskCache();
}
