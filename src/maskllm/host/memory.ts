// What a MaskLLM run on the host trainer holds at its peak, by part: the worker refuses a job that cannot fit
// before it loads anything (src/worker/validate.ts), and bench:scale prints it beside the measured peak RSS.
import type { LlamaConfig } from "../llama/config.js";
import { savedFloatsPerToken } from "./engine.js";
import { layerDims } from "./layer-forward.js";

export interface HostMemoryInput {
  config: LlamaConfig;
  /** all parameters, and those of the masked linears */
  params: number;
  maskedParams: number;
  /** group size M and candidates C = C(M, N) */
  m: number;
  candidates: number;
  /** tokens of one micro-batch (the engine's activations are sized for it) */
  microBatchTokens: number;
  threads: number;
  /** the caller also holds the weights as TF.js tensors (the worker's pipeline: prior, evaluation, export) */
  tfWeights: boolean;
  /** weights of the largest masked linear (the mask step works target by target); default: the config's largest */
  largestTarget?: number;
  /**
   * the run's kernels are plugged in from outside the core (linear-kernels.ts, e.g. the native addon) and take the
   * lm_head loss and the mask step in place; default: the wasm kernels, which copy every call into their memories
   */
  inPlaceKernels?: boolean;
  /** window length; default: the micro-batch's tokens (bounds the native lm_head's block of logits) */
  seqLen?: number;
}

export interface HostMemoryEstimate {
  total: number;
  parts: Record<"weights" | "maskState" | "activations" | "threadKernels" | "prior" | "runtime", number>;
}

// Node, TF.js and the kernel modules before any model: measured ~0.15-0.2 GB on a 260K model run
const RUNTIME_BYTES = 200 * 1024 ** 2;

export function hostTrainingBytes(i: HostMemoryInput): HostMemoryEstimate {
  const c = i.config;
  const { d, qd, kvd, f } = layerDims(c);
  const T = i.microBatchTokens;
  const V = c.vocabSize;
  const weights = 4 * i.params * (i.tfWeights ? 2 : 1);
  // logits, AdamW's m and v, ỹ and ∂ỹ: C/M floats per masked weight each
  const maskState = 5 * 4 * (i.maskedParams / i.m) * i.candidates;
  // saved for the backward, plus the backward's own buffers (dx, da, dxn, dO, dq, dk, dv, dh, dg, du, tmp) and
  // the recomputed norm output, SwiGLU output and σ(gate); Qwen3's q/k norms add their input gradients
  const scratchPerToken = 4 * d + 3 * qd + 2 * kvd + 5 * f + Math.max(d, qd) + (c.qkNorm ? qd + kvd : 0);
  const activations = 4 * T * (savedFloatsPerToken(c) + scratchPerToken);
  const groups = (i.largestTarget ?? Math.max(d * qd, d * f)) / i.m;
  const share = Math.ceil(T / i.threads);
  const widest = Math.max(d, qd, f);
  let threadKernels: number;
  if (i.inPlaceKernels) {
    // in place (src/native): the lm_head packed once for all threads, and one buffer for a linear's packed B that
    // all threads fill and read (the largest linear); each thread's block of logits (up to 16M floats, at most a
    // window), its A panels (a part's tokens × 256 steps), and a part's rows of a mask gradient
    const nr = 32;
    const packedHead = Math.ceil(V / nr) * nr * d;
    const logitsBlock = Math.min(16 * 2 ** 20, Math.min(i.seqLen ?? T, T) * V);
    const largest = i.largestTarget ?? Math.max(d * qd, d * f, kvd * d);
    const perThread = logitsBlock + share * 256 + Math.ceil(widest / i.threads) * widest;
    threadKernels = 4 * (packedHead + largest + i.threads * perThread);
  } else {
    // each thread's kernel memory grows to its largest call: the lm_head's product (weight, its packed copy, the
    // thread's share of the logits) or a masked linear's weight gradient (all of x and dy, x packed)
    const head = 2 * V * d + share * (V + d);
    const maskGrad = T * (2 * widest + Math.max(d, f)) + 2 * Math.max(d, f) * widest;
    // ...and the mask step's kernels and scratch, one target at a time: logits, noise, ỹ, ∂ỹ, AdamW's moments and
    // M̃ of the largest target (their memories keep their largest size too)
    const maskStep = groups * (6 * i.candidates + 2 * i.m);
    threadKernels = 4 * i.threads * (Math.max(head, maskGrad) + maskStep);
  }
  // the prior's 0/1 masks, a byte per masked weight, held by the caller for the run
  const prior = i.maskedParams;
  const total = weights + maskState + activations + threadKernels + prior + RUNTIME_BYTES;
  return { total, parts: { weights, maskState, activations, threadKernels, prior, runtime: RUNTIME_BYTES } };
}
