// A small random LLaMA built in code, for tests that need a real model but not a real checkpoint (seconds, not
// minutes), and pseudo-text to feed it; both seeded, so a test's model and data are the same on every run.
import * as tf from "@tensorflow/tfjs";
import type { LlamaConfig } from "../../src/maskllm/llama/config.js";
import { expectedWeightShapes, type LlamaModel } from "../../src/maskllm/llama/model.js";
import { mulberry32, mulberry32Bits } from "../../src/maskllm/train/rng.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseHfConfig } from "../../src/checkpoint/hf-config.js";
import { exportModelDir } from "../../src/checkpoint/export.js";

export interface TinyLlamaOptions {
  layers?: number;
  hidden?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  vocab?: number;
  seed?: number;
  /** defaults: LlamaForCausalLM, tied embeddings, no bias */
  config?: Partial<LlamaConfig>;
}

// seeded, so a test's model is the same on every run and machine; uniforms in [0, 1)
function rng(seed: number): () => number {
  const bits = mulberry32Bits(seed);
  return () => bits() / 4294967296;
}

export function tinyLlamaConfig(o: TinyLlamaOptions = {}): LlamaConfig {
  const hidden = o.hidden ?? 32;
  const heads = o.heads ?? 4;
  return {
    architecture: "LlamaForCausalLM",
    vocabSize: o.vocab ?? 64,
    hiddenSize: hidden,
    intermediateSize: o.intermediate ?? 48,
    numHiddenLayers: o.layers ?? 2,
    numAttentionHeads: heads,
    numKeyValueHeads: o.kvHeads ?? 2,
    headDim: hidden / heads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: true,
    attentionBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
    ...o.config,
  };
}

/** Weights ~ U(-a, a) with a = 1/√fan_in (norms near 1), so activations stay O(1) through the layers. */
export function tinyLlama(o: TinyLlamaOptions = {}): LlamaModel {
  const config = tinyLlamaConfig(o);
  const next = rng(o.seed ?? 1);
  const weights = new Map<string, tf.Tensor>();
  for (const [name, shape] of expectedWeightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const isNorm = name.endsWith("norm.weight");
    const a = name === "model.embed_tokens.weight" ? 1 : 1 / Math.sqrt(shape[shape.length - 1]);
    for (let i = 0; i < n; i++) v[i] = isNorm ? 1 + (next() - 0.5) * 0.2 : (next() * 2 - 1) * a;
    weights.set(name, tf.tensor(v, shape));
  }
  return { config, weights };
}

/** Token windows with some structure (a token often follows from the one before), so a loss can move. */
export function tinyWindows(count: number, seqLen: number, vocab: number, seed = 7): Int32Array[] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const w = new Int32Array(seqLen);
    w[0] = 1;
    for (let i = 1; i < seqLen; i++) w[i] = next() < 0.7 ? (w[i - 1] * 3 + 1) % vocab : Math.floor(next() * vocab);
    return w;
  });
}

// The model families people prune, as tiny config.json objects shaped like the Hub's (same keys and kinds of values
// as meta-llama/Llama-3.2-1B-Instruct, Qwen/Qwen3-0.6B and mistralai/Mistral-7B-v0.1; dimensions shrunk).
const common = { hidden_act: "silu", initializer_range: 0.02, use_cache: true, torch_dtype: "bfloat16", vocab_size: 64, attention_dropout: 0.0 };
export const TINY_HUB_CONFIGS = {
  /**
   * rope_type llama3 with Llama 3.2's factors (original_max_position_embeddings shrunk with the model, 8192 → 32, so
   * the scaling moves angles within a test's few positions), GQA, tied, explicit head_dim, two EOS ids
   */
  "llama-3.2": {
    architectures: ["LlamaForCausalLM"], model_type: "llama", ...common, attention_bias: false, mlp_bias: false, bos_token_id: 1, eos_token_id: [2, 3],
    head_dim: 16, hidden_size: 64, intermediate_size: 96, max_position_embeddings: 131072, num_attention_heads: 4, num_hidden_layers: 2,
    num_key_value_heads: 2, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_theta: 500000.0, tie_word_embeddings: true, transformers_version: "4.45.0.dev0",
    rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 32, rope_type: "llama3" },
  },
  /** q_norm / k_norm, head_dim 16 ≠ hidden/heads = 8, no bias, tied, sliding window off */
  qwen3: {
    architectures: ["Qwen3ForCausalLM"], model_type: "qwen3", ...common, attention_bias: false, bos_token_id: 1, eos_token_id: 2, head_dim: 16,
    hidden_size: 32, intermediate_size: 64, max_position_embeddings: 40960, max_window_layers: 2, num_attention_heads: 4, num_hidden_layers: 2,
    num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true,
    transformers_version: "4.51.0", use_sliding_window: false,
  },
  /** sliding_window 40 (longer sequences are refused), untied, no head_dim key */
  mistral: {
    architectures: ["MistralForCausalLM"], model_type: "mistral", ...common, bos_token_id: 1, eos_token_id: 2, hidden_size: 32, intermediate_size: 64,
    max_position_embeddings: 32768, num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000.0,
    sliding_window: 40, tie_word_embeddings: false, transformers_version: "4.34.0.dev0",
  },
} as const;
export type TinyFamily = keyof typeof TINY_HUB_CONFIGS;

/** A random model of a family, its LlamaConfig parsed from the family's tiny Hub config. */
export function tinyFamilyModel(family: TinyFamily, seed = 1): LlamaModel {
  return tinyLlama({ seed, config: parseHfConfig(structuredClone(TINY_HUB_CONFIGS[family])) });
}

/**
 * A tokenizer.json the Hub's way (BPE over letters and "▁", no merges) whose ids fit every tiny model: <unk> 0,
 * <s> 1, </s> 2, <|eot_id|> 3, "▁" 4, a–z 5..30; with its tokenizer_config.json.
 */
export function tinyTokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2, "<|eot_id|>": 3, "▁": 4 };
  [..."abcdefghijklmnopqrstuvwxyz"].forEach((c, i) => (vocab[c] = 5 + i));
  const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    tokenizerJson: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [special("<unk>", 0), special("<s>", 1), special("</s>", 2), special("<|eot_id|>", 3)],
      normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] },
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] },
      model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
    },
    tokenizerConfig: { bos_token: "<s>", eos_token: "</s>", model_max_length: 131072, tokenizer_class: "PreTrainedTokenizerFast" },
  };
}

/**
 * The model as the Hub ships a family's checkpoint: bf16 shards model-0000i-of-0000n.safetensors with
 * model.safetensors.index.json (shards of at most maxShardBytes), the family's config.json as the Hub writes it,
 * tokenizer.json and tokenizer_config.json. Returns the folder's files.
 */
export async function writeTinyHubFolder(family: TinyFamily, model: LlamaModel, dir: string, maxShardBytes = 24_000): Promise<string[]> {
  const files = await exportModelDir(model, dir, { dtype: "BF16", maxShardBytes });
  const tok = tinyTokenizerFiles();
  await writeFile(join(dir, "config.json"), JSON.stringify(TINY_HUB_CONFIGS[family], null, 2) + "\n");
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tok.tokenizerJson));
  await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(tok.tokenizerConfig));
  return [...files, "tokenizer.json", "tokenizer_config.json"];
}
