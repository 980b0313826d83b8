// The LLaMA-family model's plain types: its spec (HF config.json names in camelCase; src/checkpoint/hf-config.ts
// builds it from a config.json, and the model code reads only this), the model as a bag of weights, and the hooks a
// forward pass takes. Every part of llama/ takes these from here, so none imports model.ts, which imports the parts.
import type * as tf from "@tensorflow/tfjs";

export interface LlamaConfig {
  /** HF architecture name, e.g. LlamaForCausalLM */
  architecture: "LlamaForCausalLM" | "MistralForCausalLM" | "Qwen2ForCausalLM";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** < numAttentionHeads means grouped-query attention */
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  /** lm_head shares model.embed_tokens.weight */
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2) */
  attentionBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
}

export interface LlamaModel {
  config: LlamaConfig;
  /** HF key names; linears are [out, in] float32 */
  weights: Map<string, tf.Tensor>;
}

export interface ForwardOptions {
  /** mask for a linear weight, by HF weight name (e.g. "model.layers.0.self_attn.q_proj.weight"); multiplied into the weight via linear() */
  mask?: (weightName: string) => tf.Tensor2D | undefined;
  /** sees each linear's input [tokens, in] before the projection (calibration statistics); must not keep x beyond the call */
  onLinearInput?: (weightName: string, x: tf.Tensor2D) => void;
}
