// config.json (transformers' PretrainedConfig) ↔ LlamaConfig. Only the LLaMA family whose forward pass we implement
// is accepted; anything that would silently compute something else (an unknown rope scaling, other activations,
// partial rotary) is refused.
import type { LlamaConfig } from "../maskllm/llama/config.js";
import { CheckpointError } from "./errors.js";
import { parseRopeScaling, ropeScalingJson } from "./rope-scaling.js";

export const SUPPORTED_ARCHITECTURES = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"] as const;

const MODEL_TYPES: Record<LlamaConfig["architecture"], string> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
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

const isId = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** A token id, or a list of them (Llama 3.x lists several EOS ids); null/absent → undefined. */
function tokenIds(j: Record<string, unknown>, key: string, file?: string): number | number[] | undefined {
  const v = j[key];
  if (v === undefined || v === null) return undefined;
  if (isId(v)) return v;
  if (Array.isArray(v) && v.length > 0 && v.every(isId)) return v.length === 1 ? v[0] : [...v];
  return fail(`${key} must be a token id or a list of token ids, got ${JSON.stringify(v)}`, file);
}

const first = (v: number | number[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * The sliding window as transformers applies it: Mistral's sliding_window (default 4096, null: none) on every
 * layer; Qwen2/Qwen3's only with use_sliding_window, on layers from max_window_layers (default 28) on.
 */
function slidingWindow(j: Record<string, unknown>, architecture: LlamaConfig["architecture"], layers: number, file?: string): LlamaConfig["slidingWindow"] {
  if (architecture === "LlamaForCausalLM") return undefined;
  if (architecture !== "MistralForCausalLM" && j.use_sliding_window !== true) return undefined;
  if (j.sliding_window === null) return undefined;
  const size = posInt(j, "sliding_window", file, 4096);
  const fromLayer = architecture === "MistralForCausalLM" ? 0 : posInt({ m: j.max_window_layers ?? 28 }, "m", file);
  return fromLayer < layers ? { size, fromLayer } : undefined;
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
  const ropeScaling = parseRopeScaling(j.rope_scaling, file);
  if (j.partial_rotary_factor !== undefined && j.partial_rotary_factor !== 1) fail(`partial_rotary_factor ${JSON.stringify(j.partial_rotary_factor)} is not supported (RoPE over the whole head only)`, file, true);
  if (j.mlp_bias === true) fail("mlp_bias=true is not supported", file);
  const hiddenSize = posInt(j, "hidden_size", file);
  const numAttentionHeads = posInt(j, "num_attention_heads", file);
  const numKeyValueHeads = posInt(j, "num_key_value_heads", file, numAttentionHeads);
  // Qwen3Config's head_dim defaults to 128 rather than hidden_size / heads
  const headDim = posInt(j, "head_dim", file, architecture === "Qwen3ForCausalLM" ? 128 : hiddenSize / numAttentionHeads);
  const numHiddenLayers = posInt(j, "num_hidden_layers", file);
  const window = slidingWindow(j, architecture, numHiddenLayers, file);
  if (numAttentionHeads % numKeyValueHeads !== 0)
    fail(`num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`, file);
  if (headDim % 2 !== 0) fail(`head_dim (${headDim}) must be even for rotary embeddings`, file);
  return {
    architecture,
    vocabSize: posInt(j, "vocab_size", file),
    hiddenSize,
    intermediateSize: posInt(j, "intermediate_size", file),
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: posNum(j, "rms_norm_eps", 1e-6, file),
    ropeTheta: posNum(j, "rope_theta", 10000, file),
    ...(ropeScaling ? { ropeScaling } : {}),
    maxPositionEmbeddings: posInt(j, "max_position_embeddings", file, 2048),
    // transformers' Llama/Mistral/Qwen2 configs default to untied
    tieWordEmbeddings: j.tie_word_embeddings === true,
    // Qwen2 always has q/k/v bias; Llama and Qwen3 have it when attention_bias is set
    attentionBias: architecture === "Qwen2ForCausalLM" || j.attention_bias === true,
    ...(architecture === "Qwen3ForCausalLM" ? { qkNorm: true } : {}),
    ...(window ? { slidingWindow: window } : {}),
    bosTokenId: first(tokenIds(j, "bos_token_id", file)), // a sequence starts with one BOS
    eosTokenId: tokenIds(j, "eos_token_id", file),
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
    rope_scaling: ropeScalingJson(c.ropeScaling),
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.architecture === "LlamaForCausalLM" ? { attention_bias: c.attentionBias, mlp_bias: false } : {}),
    ...(c.architecture === "Qwen3ForCausalLM" ? { attention_bias: c.attentionBias } : {}),
    ...(c.architecture === "MistralForCausalLM" ? { sliding_window: c.slidingWindow?.size ?? null } : {}),
    ...(c.architecture === "Qwen2ForCausalLM" || c.architecture === "Qwen3ForCausalLM"
      ? c.slidingWindow
        ? { use_sliding_window: true, sliding_window: c.slidingWindow.size, max_window_layers: c.slidingWindow.fromLayer }
        : { use_sliding_window: false }
      : {}),
    ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
    ...(c.eosTokenId !== undefined ? { eos_token_id: c.eosTokenId } : {}),
    torch_dtype: "float32",
    ...extra,
  };
}
