// A tiny random LLaMA for the MaskLLM tests (seconds, not minutes); weights from a seeded PRNG.
import * as tf from "@tensorflow/tfjs";
import type { LlamaConfig } from "../../src/maskllm/llama/config.js";
import { expectedWeightShapes, type LlamaModel } from "../../src/maskllm/llama/model.js";
import { mulberry32 } from "../../src/maskllm/train/rng.js";

export function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return {
    architecture: "LlamaForCausalLM",
    vocabSize: 32,
    hiddenSize: 16,
    intermediateSize: 24,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 4,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: true,
    attentionBias: false,
    ...over,
  };
}

export function tinyModel(seed = 1, over: Partial<LlamaConfig> = {}): LlamaModel {
  const config = tinyConfig(over);
  const next = mulberry32(seed);
  const weights = new Map<string, tf.Tensor>();
  for (const [name, shape] of expectedWeightShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const isNorm = name.endsWith("norm.weight");
    for (let i = 0; i < n; i++) v[i] = isNorm ? 1 : (next() - 0.5) * 0.6;
    weights.set(name, tf.tensor(v, shape));
  }
  return { config, weights };
}

/** Deterministic pseudo-text: windows of token ids with some structure, so the loss can move. */
export function tinyWindows(count: number, seqLen: number, vocab: number, seed = 7): Int32Array[] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const w = new Int32Array(seqLen);
    w[0] = 1;
    for (let i = 1; i < seqLen; i++) w[i] = next() < 0.7 ? (w[i - 1] * 3 + 1) % vocab : Math.floor(next() * vocab);
    return w;
  });
}
