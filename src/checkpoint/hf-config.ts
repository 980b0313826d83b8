// config.json (transformers' PretrainedConfig) ↔ LlamaConfig. Only the LLaMA family whose forward pass we implement
// is accepted; anything that would silently compute something else (rope scaling, other activations) is refused.
import type { LlamaConfig } from "../maskllm/llama/config.js";
import { CheckpointError } from "./errors.js";

export const SUPPORTED_ARCHITECTURES = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"] as const;

const MODEL_TYPES: Record<LlamaConfig["architecture"], string> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
};

function fail(message: string, file?: string, unsupported = false): never {
  throw new CheckpointError("BAD_CONFIG", message, undefined, file, { unsupported });
}

function posInt(j: Record<string, unknown>, key: string, file?: string, dflt?: number): number {
  const v = j[key] ?? dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) fail(`${key} must be a positive integer, got ${JSON.stringify(v)}`, file);
  return v;
}

function posNum(j: Record<string, unknown>, key: string, dflt: number, file?: string): number {
  const v = j[key] ?? dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`${key} must be a positive number, got ${JSON.stringify(v)}`, file);
  return v;
}

function tokenId(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  if (Array.isArray(v) && typeof v[0] === "number") return v[0]; // some configs list several EOS ids
  return undefined;
}

/** Parses a config.json object into a LlamaConfig; `file` names it in errors. */
export function parseHfConfig(json: unknown, file?: string): LlamaConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("config.json must be a JSON object", file);
  const j = json as Record<string, unknown>;
  const archs = j.architectures;
  const arch = Array.isArray(archs) ? archs[0] : undefined;
  if (!SUPPORTED_ARCHITECTURES.includes(arch as LlamaConfig["architecture"]))
    throw new CheckpointError(
      "UNSUPPORTED_ARCHITECTURE",
      `architecture ${JSON.stringify(arch ?? null)} is not supported; supported: ${SUPPORTED_ARCHITECTURES.join(", ")} (LLaMA family: RMSNorm, RoPE, SwiGLU, grouped-query attention)`,
      undefined,
      file,
    );
  const architecture = arch as LlamaConfig["architecture"];
  const act = j.hidden_act ?? "silu";
  if (act !== "silu") fail(`hidden_act ${JSON.stringify(act)} is not supported (only silu, as in LLaMA)`, file, true);
  if (j.rope_scaling !== undefined && j.rope_scaling !== null) fail(`rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported (plain RoPE only)`, file, true);
  if (j.mlp_bias === true) fail("mlp_bias=true is not supported", file);
  const hiddenSize = posInt(j, "hidden_size", file);
  const numAttentionHeads = posInt(j, "num_attention_heads", file);
  const numKeyValueHeads = posInt(j, "num_key_value_heads", file, numAttentionHeads);
  const headDim = posInt(j, "head_dim", file, hiddenSize / numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0)
    fail(`num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`, file);
  if (headDim % 2 !== 0) fail(`head_dim (${headDim}) must be even for rotary embeddings`, file);
  return {
    architecture,
    vocabSize: posInt(j, "vocab_size", file),
    hiddenSize,
    intermediateSize: posInt(j, "intermediate_size", file),
    numHiddenLayers: posInt(j, "num_hidden_layers", file),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: posNum(j, "rms_norm_eps", 1e-6, file),
    ropeTheta: posNum(j, "rope_theta", 10000, file),
    maxPositionEmbeddings: posInt(j, "max_position_embeddings", file, 2048),
    // transformers' Llama/Mistral/Qwen2 configs default to untied
    tieWordEmbeddings: j.tie_word_embeddings === true,
    // Qwen2 always has q/k/v bias; Llama has it when attention_bias is set
    attentionBias: architecture === "Qwen2ForCausalLM" || j.attention_bias === true,
    bosTokenId: tokenId(j.bos_token_id),
    eosTokenId: tokenId(j.eos_token_id),
  };
}

/** LlamaConfig → config.json object, as transformers writes it. */
export function toHfConfig(c: LlamaConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: [c.architecture],
    model_type: MODEL_TYPES[c.architecture],
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.architecture === "LlamaForCausalLM" ? { attention_bias: c.attentionBias, mlp_bias: false } : {}),
    ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
    ...(c.eosTokenId !== undefined ? { eos_token_id: c.eosTokenId } : {}),
    torch_dtype: "float32",
    ...extra,
  };
}
