// The stage functions a pruning run is made of, shared by its two drivers: a job (pipeline.ts puts fetching,
// validation, evaluation and upload around them) and `maskforge prune` (src/cli). A run is a loaded model with
// its calibration windows and layer choice (PruneRun); it reports through StageEvents. Nothing here knows the
// database, the queue, storage or the console, so both drivers compute a mask, and write a folder, the same way.
import { PruneInputError } from "../maskllm/prune/errors.js";
import { computeOneShotMasks, type OneShotMethod, type OneShotProgress, type OneShotResult } from "../maskllm/prune/oneshot.js";
import type { LlamaModel } from "../maskllm/llama/model.js";
import type { NMPattern } from "../maskllm/mask/nm.js";
import { trainMasks, type MaskTrainingProgress, type TrainMasksResult } from "../maskllm/train/loop.js";
import type { MaskTrainingOptions } from "../maskllm/train/options.js";
import { SnapshotError } from "../maskllm/train/snapshot.js";
import type { BackendChoice } from "../maskllm/backend.js";
import { sampleWindows, tokenizeStream } from "../checkpoint/text-dataset.js";
import type { TextTokenizer } from "../checkpoint/tokenizer.js";
import { startTrainingThreads } from "../parallel/training-threads.js";

/** What a stage reports, and how it learns that it must stop. A job's JobReporter is one; the CLI has its own. */
export interface StageEvents {
  /** aborted when the run must stop (cancel, shutdown, Ctrl-C) */
  readonly signal: AbortSignal;
  /** throws the abort reason if the run must stop: called between units of work */
  check(): void;
  /** progress within the current stage (0..1) and figures a progress display can show */
  progress(within: number, extra?: { step?: number; steps?: number; stepsPerSec?: number; tokensPerSec?: number }): void;
  /** a line of the run's log (a job.log event of a job) */
  log(message: string, data?: Record<string, unknown>, level?: "info" | "warn"): Promise<void>;
}

/** One run's shared context: the dense model and what every stage after calibration reads. */
export interface PruneRun {
  /** the dense HF folder the model was loaded from (and the export copies) */
  srcDir: string;
  model: LlamaModel;
  tokenizer: TextTokenizer;
  pattern: NMPattern;
  /** module-name globs of the layers to prune and to leave dense (maskllm/prune/select-layers.ts) */
  targets: readonly string[];
  ignore: readonly string[];
  /** calibration windows: the statistics of a one-shot mask, and of a one-shot prior */
  windows: Int32Array[];
  events: StageEvents;
}

// ---------------------------------------------------------------------------------------------------------
// calibrating

/**
 * The token stream of a dataset's documents (BOS before each; checkpoint/dataset-formats.ts reads any format into
 * documents). With maxTokens, documents are tokenized in order only until the stream is that long: calibration
 * samples a few windows, and tokenizing all of a large file would dominate a short job. `name` says which
 * dataset in errors, `format` what it was read as.
 */
export function tokenizeDocuments(docs: readonly string[], format: string, tokenizer: TextTokenizer, name: string, maxTokens = Infinity): Int32Array {
  if (docs.length === 0) throw new PruneInputError(`${name} holds no ${format} documents`);
  if (!Number.isFinite(maxTokens)) return tokenizeStream(tokenizer, docs, { bos: tokenizer.bosId });
  const parts: Int32Array[] = [];
  let n = 0;
  for (let i = 0; i < docs.length && n < maxTokens; i += 64) {
    const part = tokenizeStream(tokenizer, docs.slice(i, i + 64), { bos: tokenizer.bosId });
    parts.push(part);
    n += part.length;
  }
  const out = new Int32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Tokens a job reads for calibration: many times what the sampled windows cover, so they stay spread out. */
export function calibrationTokenBudget(samples: number, seqLen: number): number {
  return Math.max(16 * samples * seqLen, 50_000);
}

/** `samples` seeded windows of seqLen tokens at random starts: the calibration set. */
export function sampleCalibration(tokens: Int32Array, samples: number, seqLen: number, seed: number, name: string): Int32Array[] {
  if (tokens.length < seqLen) throw new PruneInputError(`${name} has ${tokens.length} tokens, fewer than one window of ${seqLen}`);
  return sampleWindows(tokens, samples, seqLen, seed);
}

/** A one-shot mask (magnitude, Wanda, SparseGPT) of every target from the run's windows; progress is the blocks done. */
export function oneShotMasks(run: PruneRun, plan: { method: OneShotMethod; update: boolean; batchSize?: number; onProgress?: (p: OneShotProgress) => void }): Promise<OneShotResult> {
  return computeOneShotMasks(run.model, run.windows, {
    method: plan.method, pattern: run.pattern, update: plan.update, targets: run.targets, ignore: run.ignore, batchSize: plan.batchSize, signal: run.events.signal,
    onProgress: (p) => {
      run.events.progress((p.layer + 1) / Math.max(1, p.layers));
      plan.onProgress?.(p);
    },
  });
}

/** Where a MaskLLM run's prior mask comes from: none, a one-shot method on the calibration windows, or a loader. */
export type PriorSource = "none" | OneShotMethod | (() => Promise<Map<string, Uint8Array>>);

/** The prior, computed at most once however often it is asked for (a snapshot that turns out stale asks again). */
export function priorOnce(run: PruneRun, source: PriorSource): () => Promise<Map<string, Uint8Array> | undefined> {
  let prior: Promise<Map<string, Uint8Array> | undefined> | undefined;
  const compute = async () => {
    if (source === "none") return undefined;
    if (typeof source === "function") return source();
    return (await oneShotMasks(run, { method: source, update: false })).masks;
  };
  return () => (prior ??= compute());
}

// ---------------------------------------------------------------------------------------------------------
// training

export interface TrainPlan {
  options: Partial<MaskTrainingOptions>;
  /** weight names to mask */
  targets: string[];
  /** what training samples its batches from; default the calibration windows */
  windows?: Int32Array[];
  prior: () => Promise<Map<string, Uint8Array> | undefined>;
  /** a snapshot of this run to go on from; its logits replace the prior */
  resume?: Uint8Array;
  /** a snapshot that does not fit (another spec, another version) starts training over instead of failing */
  restartOnStaleSnapshot?: boolean;
  threads: number;
  backend: BackendChoice;
  /** the signal training stops on; default the run's (a job's hand-back waits for a near snapshot) */
  signal?: AbortSignal;
  snapshotOnAbort?: (reason: unknown) => boolean;
  onProgress: (p: MaskTrainingProgress) => void;
  onSnapshot?: (bytes: Uint8Array, step: number) => Promise<void>;
}

/** Trains the mask logits on the plan's threads; the mask depends on options.microBatches, never on the thread count. */
export async function trainLogits(run: PruneRun, plan: TrainPlan): Promise<TrainMasksResult> {
  const pool = await startTrainingThreads(run.model, plan.threads, plan.backend);
  try {
    if (pool.threads > 1)
      await run.events.log(`training on ${pool.threads} threads (${pool.kind === "host" ? "each op split over them" : `${plan.options.microBatches} micro-batches per step`})`, { threads: pool.threads, microBatches: plan.options.microBatches });
    const train = async (resume: Uint8Array | undefined) =>
      trainMasks({
        model: run.model, windows: plan.windows ?? run.windows, options: plan.options, targets: plan.targets, prior: resume ? undefined : await plan.prior(), resume,
        signal: plan.signal ?? run.events.signal, replicas: pool.replicas, executor: pool.executor, snapshotOnAbort: plan.snapshotOnAbort,
        onProgress: plan.onProgress, onSnapshot: plan.onSnapshot,
      });
    let result: TrainMasksResult;
    try {
      result = await train(plan.resume);
    } catch (err) {
      if (!(err instanceof SnapshotError) || !plan.resume || !plan.restartOnStaleSnapshot) throw err;
      await run.events.log(`stored snapshot not usable (${err.message}); training from the start`, undefined, "warn");
      result = await train(undefined);
    }
    if (result.startStep > 0) await run.events.log(`resumed training from the snapshot at step ${result.startStep}`, { step: result.startStep });
    return result;
  } finally {
    await pool.close();
  }
}
