// bench:scale's models: the four llama2.c "stories" shapes at vocab 32000 as LlamaConfigs, seeded random weights as
// host Float32Arrays (no files; the host trainer takes them as they are), and the parameter, FLOP and memory counts
// the bench prints next to its measurements.
import type { LlamaConfig } from "../src/maskllm/llama/config.js";
import { expectedWeightShapes, linearWeightNames } from "../src/maskllm/llama/model.js";
import { mulberry32Bits } from "../src/maskllm/train/rng.js";
import { linearForward } from "../src/maskllm/kernels/matmul-module.js";
import { loadNativeAddon } from "../src/native/loader.js";

export interface ScaleShape {
  name: string;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
}

export const VOCAB = 32000;
export const SEQ = 256;
export const BATCH = 8;
export const TOKENS_PER_STEP = BATCH * SEQ;

export const SHAPES: ScaleShape[] = [
  { name: "stories260K", dim: 64, layers: 5, heads: 8, kvHeads: 4, ffn: 172 },
  { name: "stories15M", dim: 288, layers: 6, heads: 6, kvHeads: 6, ffn: 768 },
  { name: "stories42M", dim: 512, layers: 8, heads: 8, kvHeads: 8, ffn: 1376 },
  { name: "stories110M", dim: 768, layers: 12, heads: 12, kvHeads: 12, ffn: 2048 },
];

// By name only (--shapes): a 1024-wide, 24-layer LLaMA (374M parameters with vocab 32000), and TinyLlama-1.1B's
// width, heads and FFN with 12 of its 22 layers (660M), near the largest model whose MaskLLM run fits a 24 GiB machine.
export const EXTRA_SHAPES: ScaleShape[] = [
  { name: "llama-374M", dim: 1024, layers: 24, heads: 16, kvHeads: 16, ffn: 2816 },
  { name: "tinyllama-12L", dim: 2048, layers: 12, heads: 32, kvHeads: 4, ffn: 5632 },
];

export function shapeByName(name: string): ScaleShape {
  const s = [...SHAPES, ...EXTRA_SHAPES].find((x) => x.name === name);
  if (!s) throw new Error(`unknown shape '${name}' (one of ${[...SHAPES, ...EXTRA_SHAPES].map((x) => x.name).join(", ")})`);
  return s;
}

/** Untied lm_head (its own [vocab, dim] weight), rms eps 1e-5, RoPE θ 10000. */
export function scaleConfig(s: ScaleShape): LlamaConfig {
  return {
    architecture: "LlamaForCausalLM",
    vocabSize: VOCAB,
    hiddenSize: s.dim,
    intermediateSize: s.ffn,
    numHiddenLayers: s.layers,
    numAttentionHeads: s.heads,
    numKeyValueHeads: s.kvHeads,
    headDim: s.dim / s.heads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: SEQ,
    tieWordEmbeddings: false,
    attentionBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
  };
}

/** Uniforms in [0, 1) from the project's one seeded generator (train/rng.ts). */
function uniforms(seed: number): () => number {
  const bits = mulberry32Bits(seed);
  return () => bits() / 4294967296;
}

/** N(0, std²) values (Box-Muller, two per pair of uniforms). */
function fillNormal(out: Float32Array, rand: () => number, std: number): void {
  for (let i = 0; i < out.length; i += 2) {
    const u = 1 - rand(); // (0, 1]
    const r = std * Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * rand();
    out[i] = r * Math.cos(th);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
  }
}

/**
 * Every weight of the config with HF names: matrices N(0, 0.02) from a seeded PRNG, norm weights 1. `alloc` makes
 * the arrays (the training threads' shared buffers, so the trainer uses them as they are: one copy of the weights).
 */
export function randomWeights(config: LlamaConfig, seed = 0, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): Map<string, Float32Array> {
  const rand = uniforms(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of expectedWeightShapes(config)) {
    const a = alloc(shape.reduce((x, y) => x * y, 1));
    if (shape.length === 1) a.fill(1);
    else fillNormal(a, rand, 0.02);
    out.set(name, a);
  }
  return out;
}

/** Random token ids in [0, vocab): `count` windows of `seq` tokens (speed only, no meaning). */
export function randomWindows(count: number, seq: number, vocab: number, seed = 1): Int32Array[] {
  const rand = uniforms(seed);
  return Array.from({ length: count }, () => Int32Array.from({ length: seq }, () => Math.floor(rand() * vocab)));
}

export interface ParamCounts {
  /** q/k/v/o/gate/up/down of every layer: the weights MaskLLM masks */
  masked: number;
  lmHead: number;
  embed: number;
  norms: number;
  /** every weight that is not masked (embedding, lm_head, norms) */
  other: number;
}

export function paramCounts(config: LlamaConfig): ParamCounts {
  const shapes = expectedWeightShapes(config);
  const size = (n: string) => shapes.get(n)!.reduce((a, b) => a * b, 1);
  const masked = linearWeightNames(config).reduce((s, n) => s + size(n), 0);
  const lmHead = config.tieWordEmbeddings ? 0 : size("lm_head.weight");
  const embed = size("model.embed_tokens.weight");
  let total = 0;
  for (const n of shapes.keys()) total += size(n);
  const other = total - masked;
  return { masked, lmHead, embed, norms: other - lmHead - embed, other };
}

/** The FLOP count behind "effective GFLOP/s": forward 2, backward 4 multiply-adds per weight and token. */
export const FLOP_FORMULA = "6 × (masked linear params + lm_head params) × tokens/s";

export function effectiveGflops(c: ParamCounts, tokensPerSec: number): number {
  return (6 * (c.masked + c.lmHead) * tokensPerSec) / 1e9;
}

/**
 * Floats one decoder layer keeps for backward, per token (an estimate of what a step must hold; the exact set
 * depends on the engine's fusions). h = hidden, q = heads·headDim, kv = kvHeads·headDim, f = FFN width.
 */
export function savedFloatsPerLayerPerToken(c: LlamaConfig): number {
  const h = c.hiddenSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const f = c.intermediateSize;
  return (
    h + // input_layernorm's input (the residual stream)
    h + // q/k/v projections' input (the normed x, shared by the three)
    q + // q after RoPE
    kv + // k after RoPE
    kv + // v
    c.numAttentionHeads + // attention's per-row logsumexp (one per head and query)
    q + // attention output = o_proj's input
    h + // post_attention_layernorm's input
    h + // gate/up projections' input (the normed x, shared)
    f + // gate projection's output (SwiGLU)
    f + // up projection's output (SwiGLU)
    f // silu(gate)·up = down_proj's input
  );
}

/** Floats saved for backward by the whole model at `tokens` tokens. */
export function savedActivationFloats(c: LlamaConfig, tokens: number): number {
  const perToken =
    c.numHiddenLayers * savedFloatsPerLayerPerToken(c) +
    c.hiddenSize + // final norm's input
    c.hiddenSize + // lm_head's input (the normed x)
    c.vocabSize; // the lm_head logits [tokens × vocab] (cross-entropy's input)
  return perToken * tokens;
}

export const MEMORY_FORMULA = "28 B × masked weights + 4 B × other weights + 4 B × saved activations (2048 tokens)";

/** The memory model's bytes: 28 B per masked weight, 4 B per other weight, 4 B per saved activation float. */
export function memoryFormulaBytes(config: LlamaConfig, tokens = TOKENS_PER_STEP): { bytes: number; weightsBytes: number; activationBytes: number } {
  const c = paramCounts(config);
  const weightsBytes = 28 * c.masked + 4 * c.other;
  const activationBytes = 4 * savedActivationFloats(config, tokens);
  return { bytes: weightsBytes + activationBytes, weightsBytes, activationBytes };
}

/**
 * Our GEMM's one-thread rate at a shape (the per-core yardstick): y = x·Wᵀ for 1024 tokens at each of its linears'
 * and the lm_head's sizes, best of 3 each, weighted by how often each size occurs. The native addon's tile
 * (native "auto", where it loads), else the wasm kernel.
 */
export function gemmReferenceGflops(shape: ScaleShape, native: "auto" | "off"): { gflops: number; kernels: string } {
  const config = scaleConfig(shape);
  const addon = native === "auto" ? loadNativeAddon() : undefined;
  const tokens = 1024;
  const dims = expectedWeightShapes(config);
  const uses = new Map<string, number>();
  for (const n of [...linearWeightNames(config), "lm_head.weight"]) {
    const key = dims.get(n)!.join("x");
    uses.set(key, (uses.get(key) ?? 0) + 1);
  }
  const rand = uniforms(5);
  const uniform = () => rand() - 0.5;
  let flops = 0;
  let seconds = 0;
  for (const [key, count] of uses) {
    const [outDim, inDim] = key.split("x").map(Number);
    const x = Float32Array.from({ length: tokens * inDim }, uniform);
    const w = Float32Array.from({ length: outDim * inDim }, uniform);
    const y = new Float32Array(tokens * outDim);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      if (addon) addon.linear(true, x, w, null, null, null, 0, tokens, inDim, outDim, y, false);
      else linearForward(x, w, undefined, tokens, inDim, outDim, y);
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    flops += count * 2 * tokens * inDim * outDim;
    seconds += count * best;
  }
  return { gflops: flops / seconds / 1e9, kernels: addon ? addon.isa() : "wasm" };
}
