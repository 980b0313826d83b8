// The `validating` stage: the fetched folder must be a checkpoint we can run (config.json of a supported
// architecture, safetensors headers holding every tensor the config implies, with its shape) and fit the
// worker's memory. Everything here reads headers only; no weight is loaded yet.
import type { Config } from "../config.js";
import { InvalidJobError } from "../contract/errors.js";
import type { JobSpec } from "../contract/job-spec/schema.js";
import { parsePattern } from "../maskllm/mask/nm.js";
import { parseHfConfig } from "../checkpoint/hf-config.js";
import { checkWeightShapes, readConfigJson } from "../checkpoint/load.js";
import { CheckpointReader } from "../checkpoint/safetensors/checkpoint.js";
import type { LlamaConfig } from "../maskllm/llama/config.js";
import { expectedWeightShapes } from "../maskllm/llama/model.js";
import { selectLayers } from "../maskllm/prune/select-layers.js";
import { defaultTrainingThreads } from "../parallel/thread-replicas.js";
import { hostTrainingBytes } from "../maskllm/host/memory.js";
import { hostTrainingSupported } from "../maskllm/host/engine.js";
import { slidingWindowRefusal } from "../maskllm/llama/sliding-window.js";

export interface Validated {
  llama: LlamaConfig;
  configJson: Record<string, unknown>;
  /** weight names the job prunes */
  targets: string[];
  params: number;
  maskedParams: number;
  estimateBytes: number;
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
    const host = hostTrainingBytes({ config: c, params, maskedParams, m, candidates: binom(m, n), microBatchTokens, threads, tfWeights: true });
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

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;

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
  const params = await checkWeightShapes(reader, llama).finally(() => reader.close());
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
  const estimateBytes = estimateMemoryBytes(llama, spec, params, maskedParams, spec.method === "maskllm" ? trainingThreads(spec, config) : 1, hostTrainingSupported(llama));
  if (estimateBytes > config.workerMemoryLimitBytes)
    throw new InvalidJobError(
      "resource_exhausted",
      `the job needs about ${gib(estimateBytes)} of memory (${params} parameters), more than this worker's ${gib(config.workerMemoryLimitBytes)}; lower training.batch_size or calibration.seq_len/samples, or use a smaller model`,
    );
  return { llama, configJson, targets, params, maskedParams, estimateBytes };
}
