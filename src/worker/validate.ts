// The `validating` stage: the fetched folder must be a checkpoint we can run (config.json of a supported
// architecture, safetensors headers holding every tensor the config implies, with its shape) and fit the
// worker's memory, in memory or, for a one-shot job whose model does not fit, layer by layer (this stage picks the
// path). Everything here reads headers only; no weight is loaded yet.
import type { Config } from "../config.js";
import { InvalidJobError } from "../contract/errors.js";
import type { JobSpec } from "../contract/job-spec/schema.js";
import { parsePattern } from "../maskllm/mask/nm.js";
import { parseHfConfig } from "../checkpoint/hf-config.js";
import { checkWeightShapes, readConfigJson } from "../checkpoint/load.js";
import { CheckpointReader } from "../checkpoint/safetensors/checkpoint.js";
import { DTYPE_SIZES } from "../checkpoint/safetensors/dtypes.js";
import type { LlamaConfig } from "../maskllm/llama/config.js";
import { expectedWeightShapes } from "../maskllm/llama/model.js";
import { selectLayers } from "../maskllm/prune/select-layers.js";
import { defaultTrainingThreads } from "../parallel/thread-replicas.js";
import { hostTrainingBytes } from "../maskllm/host/memory.js";
import { linearKernels } from "../maskllm/host/linear-kernels.js";
import { hostTrainingSupported } from "../maskllm/host/engine.js";
import { slidingWindowRefusal } from "../maskllm/llama/sliding-window.js";
import { layerBufferFloats, layerDims } from "../maskllm/host/layer-forward.js";
import { headShape, layerByLayerPerplexityFloats } from "../maskllm/eval/perplexity-layer-by-layer.js";
import { PANEL } from "../maskllm/prune/gram.js";
import { choleskyWorkspaceFloats } from "../maskllm/linalg/cholesky-blocked.js";
import { LINEAR_SUFFIXES } from "../maskllm/llama/model.js";

/** How a job runs: the whole model in memory, or one decoder layer at a time (one-shot methods only). */
export type Execution = "in-memory" | "layer-by-layer";

export interface Validated {
  llama: LlamaConfig;
  configJson: Record<string, unknown>;
  /** weight names the job prunes */
  targets: string[];
  params: number;
  maskedParams: number;
  /** the path's own estimate */
  estimateBytes: number;
  execution: Execution;
  /** both paths' estimates (layer by layer: one-shot jobs whose targets are all inside decoder layers) */
  estimates: { inMemoryBytes: number; layerByLayerBytes?: number };
  /** how a layer-by-layer job cuts its work (execution "layer-by-layer") */
  layerByLayer?: LayerByLayerPlan;
}

function binom(m: number, n: number): number {
  let r = 1;
  for (let i = 1; i <= n; i++) r = (r * (m - n + i)) / i;
  return Math.round(r);
}

/**
 * Peak bytes a run needs. One-shot methods (and a MaskLLM job's one-shot prior): float32 weights twice, a float64
 * Hessian of the widest input and the calibration activations. MaskLLM training on the host trainer (the wasm and
 * cpu backends): its own estimate (maskllm/host/memory.ts, which bench:scale checks against measured peaks) with
 * the pipeline's TF.js copy of the weights; on other backends (the TF.js path) the weights once per training
 * thread, the logits with their gradient and two Adam moments, the soft and masked weights, and one batch's
 * activations.
 */
export function estimateMemoryBytes(c: LlamaConfig, spec: JobSpec, params: number, maskedParams: number, threads = 1, hostPath = true): number {
  const { n, m } = parsePattern(spec.pattern);
  const weights = 4 * params;
  const seq = spec.calibration.seq_len;
  const widest = Math.max(c.hiddenSize, c.intermediateSize);
  const calib = spec.calibration.samples * seq * widest * 4 * 2;
  const oneShot = weights * 2 + widest * widest * 8 * 2 + calib;
  if (spec.method !== "maskllm") return oneShot;
  const training = spec.training!;
  const prior = typeof spec.prior === "string" && spec.prior !== "none" ? oneShot : weights;
  if (hostPath) {
    const microBatchTokens = Math.ceil(training.batch_size / Math.min(training.micro_batches, training.batch_size)) * seq;
    // this process's kernels (the sandbox plugs the native ones in where they load) decide what each thread holds
    const inPlaceKernels = linearKernels()?.headLoss !== undefined;
    const host = hostTrainingBytes({ config: c, params, maskedParams, m, candidates: binom(m, n), microBatchTokens, threads, tfWeights: true, inPlaceKernels, seqLen: seq });
    return Math.max(prior, host.total);
  }
  const logits = (maskedParams / m) * binom(m, n) * 4;
  const tokens = training.batch_size * seq;
  const activations = tokens * c.numHiddenLayers * (c.hiddenSize * 12 + c.intermediateSize * 4) * 4 + tokens * c.vocabSize * 4 * 3;
  return Math.max(prior, weights * Math.max(1, threads) + logits * 4 + maskedParams * 4 * 2 + activations);
}

/** Threads a MaskLLM job trains on: TRAIN_THREADS, or one per core this worker's slot gets; at most micro_batches. */
export function trainingThreads(spec: JobSpec, config: Pick<Config, "trainThreads" | "workerConcurrency">): number {
  const parts = spec.training?.micro_batches ?? 1;
  return config.trainThreads > 0 ? Math.min(config.trainThreads, parts) : defaultTrainingThreads(parts, config.workerConcurrency);
}

/** Calibration and evaluation tokens a layer-by-layer job runs through one layer forward at a time. */
const LAYER_BY_LAYER_BATCH_TOKENS = 2048;

/** How a layer-by-layer job cuts its work; the estimate and the pipeline read the same plan. */
export interface LayerByLayerPlan {
  /** op-pool threads each product is split over */
  threads: number;
  /** calibration windows per layer forward */
  windowsPerBatch: number;
  /** evaluation windows per layer forward, and per group (the group's hidden states are about the calibration's) */
  evalWindowsPerBatch: number;
  evalGroupWindows: number;
}

/** Threads a one-shot job's products are split over: TRAIN_THREADS, or one per core this worker's slot gets. */
export function oneShotThreads(config: Pick<Config, "trainThreads" | "workerConcurrency">): number {
  return config.trainThreads > 0 ? config.trainThreads : defaultTrainingThreads(Number.POSITIVE_INFINITY, config.workerConcurrency);
}

export function layerByLayerPlan(spec: JobSpec, threads: number): LayerByLayerPlan {
  const { samples, seq_len: seq } = spec.calibration;
  const evalSeq = spec.eval.seq_len;
  const evalWindowsPerBatch = Math.max(1, Math.floor(LAYER_BY_LAYER_BATCH_TOKENS / evalSeq));
  return {
    threads: Math.max(1, Math.floor(threads)),
    windowsPerBatch: Math.max(1, Math.min(samples, Math.floor(LAYER_BY_LAYER_BATCH_TOKENS / seq))),
    evalWindowsPerBatch,
    evalGroupWindows: Math.max(evalWindowsPerBatch, Math.floor((samples * seq) / evalSeq)),
  };
}

/**
 * Peak bytes of a one-shot job run layer by layer, from what that path holds: one decoder layer's float32 weights
 * and the transient float32 copy of the largest tensor read (an embedding, or a linear) with its stored bytes; while
 * pruning, the calibration activations (hs and next), one batch's layer buffers, the method's statistics (SparseGPT:
 * the Gram sums in float64 of every input it reads, the accumulator's scratch, and the widest Hessian with its
 * factorisation's memory: float64 with the weight update, float32 + the blocked Cholesky's workspace without) and
 * the masks (the layer's bytes, the run's bits); while evaluating, one group's hidden states, one batch's buffers and
 * a slice of the head. Then each executor thread's kernel memory: its largest product's weight copied and packed,
 * and its share of a batch. Like the in-memory estimate, the process's own runtime is not counted.
 */
export function estimateLayerByLayerBytes(c: LlamaConfig, spec: JobSpec, plan: LayerByLayerPlan, maskedParams: number, storedBytes = 4): { total: number; parts: Record<string, number> } {
  // a job's SparseGPT always updates the kept weights
  const update = spec.method === "sparsegpt";
  const { d, qd, kvd, f } = layerDims(c);
  const linear = d * qd + 2 * d * kvd + qd * d + 3 * d * f;
  const largest = Math.max(qd * d, f * d);
  const widest = Math.max(d, qd, f);
  const seq = spec.calibration.seq_len;
  const calibrated = spec.method !== "magnitude";
  const tb = plan.windowsPerBatch * seq;
  const layerWeights = 4 * (linear + 3 * d + (c.attentionBias ? qd + 2 * kvd : 0) + (c.qkNorm ? 2 * c.headDim : 0));
  const read = (4 + storedBytes) * Math.max(c.vocabSize * d, largest);
  const activations = calibrated ? 4 * 2 * spec.calibration.samples * seq * d : 0;
  const batch = calibrated ? 4 * layerBufferFloats(c, tb) : 0;
  let statistics = 0;
  if (spec.method === "wanda") statistics = 8 * (2 * d + qd + f);
  if (spec.method === "sparsegpt") {
    const gram = 8 * (2 * d * d + qd * qd + f * f) + 4 * widest * (tb + PANEL);
    const hessian = update ? 8 * widest * widest + 12 * largest + 8 * d * 128 : 4 * (widest * widest + choleskyWorkspaceFloats(widest));
    statistics = gram + hessian;
  }
  const masks = linear + Math.ceil(maskedParams / 8) * 2;
  const pruning = layerWeights + read + activations + batch + statistics + masks;
  const e = layerByLayerPerplexityFloats(c, spec.eval.seq_len, plan.evalGroupWindows, plan.evalWindowsPerBatch);
  const evaluating = spec.eval.datasets.length > 0 ? layerWeights + read + 4 * (e.activations + e.batch + e.head) + Math.ceil(maskedParams / 8) : 0;
  const share = Math.ceil(Math.max(tb, plan.evalWindowsPerBatch * spec.eval.seq_len) / plan.threads);
  const head = headShape(c.vocabSize);
  const executor = plan.threads * (8 * Math.max(largest, PANEL * tb, head.slice * d) + 4 * Math.max(share * (2 * widest + 2 * qd + 2 * kvd), Math.ceil(head.rows / plan.threads) * (d + head.slice)));
  const total = Math.max(pruning, evaluating) + executor;
  return { total, parts: { layerWeights, read, activations, batch, statistics, masks, evaluating, executor } };
}

/**
 * The layer-by-layer plan on this worker's threads, or on fewer when each thread's kernel memory would take the job
 * over the limit (one thread at the least), with its estimate.
 */
export function fitLayerByLayer(c: LlamaConfig, spec: JobSpec, config: Pick<Config, "trainThreads" | "workerConcurrency" | "workerMemoryLimitBytes">, maskedParams: number, storedBytes = 4): { plan: LayerByLayerPlan; bytes: number } {
  for (let threads = oneShotThreads(config); ; threads--) {
    const plan = layerByLayerPlan(spec, threads);
    const bytes = estimateLayerByLayerBytes(c, spec, plan, maskedParams, storedBytes).total;
    if (bytes <= config.workerMemoryLimitBytes || threads <= 1) return { plan, bytes };
  }
}

/** Whether the job's targets are all inside decoder layers (the layer-by-layer pruner prunes nothing else). */
function inDecoderLayers(targets: readonly string[]): boolean {
  return targets.every((t) => {
    const m = /^model\.layers\.\d+\.(.+)\.weight$/.exec(t);
    return m !== null && (LINEAR_SUFFIXES as readonly string[]).includes(m[1]);
  });
}

/** Bytes for a person: GiB, or MiB under one GiB. */
export const gib = (b: number) => (b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(2)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

/** Throws InvalidJobError, or the CheckpointError of a file that is unreadable or wrong. */
export async function validateCheckpoint(dir: string, spec: JobSpec, config: Config): Promise<Validated> {
  const configJson = await readConfigJson(dir);
  const llama = parseHfConfig(configJson, "config.json");
  // a window longer than the model's sliding_window would fail mid-run: refuse it before anything is loaded
  const lengths: [string, number][] = [["calibration.seq_len", spec.calibration.seq_len], ...(spec.eval.datasets.length > 0 ? [["eval.seq_len", spec.eval.seq_len] as [string, number]] : [])];
  for (const [what, seq] of lengths) {
    const why = slidingWindowRefusal(llama, seq, what);
    if (why) throw new InvalidJobError("invalid_spec", why);
  }
  const reader = await CheckpointReader.open(dir);
  // no folder in the messages: it is this worker's scratch space, not the user's
  let storedBytes = 4;
  const params = await checkWeightShapes(reader, llama)
    .then(async (n) => {
      // the largest tensor a layer-by-layer run reads whole is stored as this
      storedBytes = DTYPE_SIZES[(await reader.entry("model.embed_tokens.weight")).dtype];
      return n;
    })
    .finally(() => reader.close());
  const shapes = expectedWeightShapes(llama);
  let targets: string[];
  try {
    targets = selectLayers([...shapes.keys()].filter((n) => shapes.get(n)!.length === 2), spec.targets, spec.ignore);
  } catch (err) {
    throw new InvalidJobError("invalid_spec", `targets/ignore: ${(err as Error).message}`);
  }
  if (targets.length === 0) throw new InvalidJobError("invalid_spec", "targets and ignore leave no linear layer to prune");
  const { m } = parsePattern(spec.pattern);
  for (const t of targets) {
    const [, cols] = shapes.get(t)!;
    if (cols % m !== 0) throw new InvalidJobError("mask_incompatible", `${t} has ${cols} input features, not a multiple of M=${m}; choose another pattern or leave it out with ignore`);
  }
  const maskedParams = targets.reduce((a, t) => a + shapes.get(t)!.reduce((x, y) => x * y, 1), 0);
  const limit = config.workerMemoryLimitBytes;
  const inMemoryBytes = estimateMemoryBytes(llama, spec, params, maskedParams, spec.method === "maskllm" ? trainingThreads(spec, config) : 1, hostTrainingSupported(llama));
  const base = { llama, configJson, targets, params, maskedParams };
  if (inMemoryBytes <= limit) return { ...base, estimateBytes: inMemoryBytes, execution: "in-memory", estimates: { inMemoryBytes } };
  const over = `more than this worker's ${gib(limit)}`;
  if (spec.method === "maskllm")
    throw new InvalidJobError(
      "resource_exhausted",
      `the job needs about ${gib(inMemoryBytes)} of memory (${params} parameters), ${over}; MaskLLM training holds the whole model (its one-shot prior could run layer by layer, training cannot); lower training.batch_size or calibration.seq_len/samples, or use a smaller model`,
    );
  if (!inDecoderLayers(targets))
    throw new InvalidJobError(
      "resource_exhausted",
      `the job needs about ${gib(inMemoryBytes)} of memory in memory (${params} parameters), ${over}, and it cannot run layer by layer: that prunes only linears inside decoder layers (leave lm_head and embed_tokens out with ignore)`,
    );
  const { plan, bytes: layerByLayerBytes } = fitLayerByLayer(llama, spec, config, maskedParams, storedBytes);
  const estimates = { inMemoryBytes, layerByLayerBytes };
  if (layerByLayerBytes > limit)
    throw new InvalidJobError(
      "resource_exhausted",
      `the job needs about ${gib(inMemoryBytes)} of memory in memory and ${gib(layerByLayerBytes)} layer by layer (${params} parameters), both ${over}; lower calibration.samples/seq_len or eval.seq_len, or use a smaller model`,
    );
  return { ...base, estimateBytes: layerByLayerBytes, execution: "layer-by-layer", estimates, layerByLayer: plan };
}
