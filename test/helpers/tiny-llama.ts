// A small random LLaMA built in code, for tests that need a real model but not a real checkpoint (seconds, not
// minutes), and pseudo-text to feed it; both seeded, so a test's model and data are the same on every run.
import * as tf from "@tensorflow/tfjs";
import type { LlamaConfig } from "../../src/maskllm/llama/config.js";
import { expectedWeightShapes, type LlamaModel } from "../../src/maskllm/llama/model.js";
import { mulberry32, mulberry32Bits } from "../../src/maskllm/train/rng.js";

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
