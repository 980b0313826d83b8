// The LLaMA-family model spec, with HF config.json names in camelCase. src/checkpoint/hf-config.ts builds it
// from a config.json; the model code reads only this.
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
