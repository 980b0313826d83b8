// The LLaMA-family model's plain types: its spec (HF config.json names in camelCase; src/checkpoint/hf-config.ts
// builds it from a config.json, and the model code reads only this), the model as a bag of weights, and the hooks a
// forward pass takes. Every part of llama/ takes these from here, so none imports model.ts, which imports the parts.
import type * as tf from "@tensorflow/tfjs";

export interface LlamaConfig {
  /** HF architecture name, e.g. LlamaForCausalLM */
  architecture: "LlamaForCausalLM" | "MistralForCausalLM" | "Qwen2ForCausalLM" | "Qwen3ForCausalLM";
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
  /** config.json's rope_scaling (absent: plain RoPE); rope.ts turns it into inv_freq and the attention factor */
  ropeScaling?: RopeScaling;
  maxPositionEmbeddings: number;
  /** lm_head shares model.embed_tokens.weight */
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2) */
  attentionBias: boolean;
  /** RMSNorm over each head of q and k after the projection, before RoPE (Qwen3's q_norm / k_norm) */
  qkNorm?: boolean;
  /**
   * Attention sees at most `size` keys back in layers ≥ fromLayer (Mistral's sliding_window; Qwen2/3's with
   * use_sliding_window, from max_window_layers). Only sequences within the window are run: longer ones are refused.
   */
  slidingWindow?: { size: number; fromLayer: number };
  bosTokenId?: number;
  /** one id or several (Llama 3's instruct models stop on any of them) */
  eosTokenId?: number | number[];
}

/** transformers' rope_scaling kinds (modeling_rope_utils), with its field names in camelCase. */
export type RopeScaling =
  | { ropeType: "linear"; factor: number }
  /** NTK: the base grows with the sequence once it passes maxPositionEmbeddings */
  | { ropeType: "dynamic"; factor: number }
  | { ropeType: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | {
      ropeType: "yarn";
      factor: number;
      /** default: the config's maxPositionEmbeddings */
      originalMaxPositionEmbeddings?: number;
      betaFast?: number;
      betaSlow?: number;
      /** default 0.1·ln(factor) + 1 (or mscale / mscaleAllDim's ratio) */
      attentionFactor?: number;
      mscale?: number;
      mscaleAllDim?: number;
      truncate?: boolean;
    };

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
