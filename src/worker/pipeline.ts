// The pruning pipeline of one job, as data: STAGES holds one small function per JobStage, run in the contract's
// order over one shared JobRun (job-run.ts); a one-shot method skips the stages only MaskLLM has. Computing the
// mask and writing the folder are stages.ts's and checkpoint/export-sparse.ts's, which `maskforge prune` runs
// too; what is a job's own is here and in job-outputs.ts: fetching and validating the source, perplexity, the
// sidecar and card, the upload. Every stage reports through the reporter (events, timing, progress, cancel
// checks, the snapshot's artifact row), the one way to Postgres; run-job.ts registers the outcome as final. A one-shot
// job whose model does not fit the worker's memory (validate.ts decides) calibrates, evaluates and exports its own way,
// one decoder layer at a time and without loading the model (layer-by-layer.ts).
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { JobSpec, MaskllmJobSpec } from "../contract/job-spec/schema.js";
import { JOB_STAGES, type JobStage } from "../contract/status.js";
import { MASKS_DIR } from "../checkpoint/export-sparse.js";
import { loadModelDir } from "../checkpoint/load.js";
import { MASK_LOGITS_FILE } from "../checkpoint/mask-logits.js";
import { MASK_NPZ_FILE } from "../checkpoint/mask-npz.js";
import type { BackendChoice } from "../maskllm/backend.js";
import { disposeModel, weight } from "../maskllm/llama/model.js";
import { parsePattern } from "../maskllm/mask/nm.js";
import type { TrainMasksResult } from "../maskllm/train/loop.js";
import type { MaskTrainingOptions } from "../maskllm/train/options.js";
import { trimMasks } from "../maskllm/train/trim.js";
import { BlobNotFoundError, jobSnapshotKey } from "../storage/index.js";
import { chatRenderer } from "../checkpoint/chat-template.js";
import { calibrationWindows } from "./job-datasets.js";
import { readBlob } from "./files.js";
import { isHandback, TrainingStopGate } from "./handback.js";
import { evaluating, exportedFileKey, exporting, uploading } from "./job-outputs.js";
import type { JobRun, PipelineInput, PipelineOutcome } from "./job-run.js";
import { fetchSource } from "./source/fetch-source.js";
import { oneShotMasks, priorOnce, trainLogits } from "./stages.js";
import { loadStoredMask } from "./stored-mask.js";
import { gib, trainingThreads, validateCheckpoint } from "./validate.js";
import { calibratingLayerByLayer, evaluatingLayerByLayer, exportingLayerByLayer } from "./layer-by-layer.js";

export type { EvalResult, PipelineInput, PipelineOutcome, UploadedArtifact } from "./job-run.js";

/** The spec's training block in the training loop's terms. */
function trainingOptions(spec: MaskllmJobSpec, progressEvery: number): Partial<MaskTrainingOptions> {
  const t = spec.training;
  return {
    pattern: parsePattern(spec.pattern),
    steps: t.steps,
    batchSize: t.batch_size,
    microBatches: t.micro_batches,
    seed: t.seed,
    lr: t.lr,
    lrMin: t.lr_min,
    tau: { start: t.tau.start, end: t.tau.end },
    kappa: { start: t.kappa.start, end: t.kappa.end },
    priorStrength: t.prior_strength,
    lambda: t.reg_lambda,
    weightDecay: t.weight_decay,
    // 0 turns clipping off; the loop wants a positive finite bound
    gradClip: t.grad_clip > 0 ? t.grad_clip : 1e30,
    hard: t.hard,
    snapshotEvery: t.snapshot_every,
    progressEvery,
  };
}

async function fetching(j: JobRun): Promise<void> {
  const source = (j.source = await fetchSource(j.spec.source, { ...j.io, dir: join(j.workDir, "src") }));
  await j.r.log(`fetched ${source.files.length} files (${source.files.reduce((a, f) => a + f.bytes, 0)} bytes) from ${source.description}`, {
    files: source.files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })),
    sha256: source.sha256,
  });
}

async function validating(j: JobRun): Promise<void> {
  const v = (j.validated = await validateCheckpoint(j.source!.dir, j.spec, j.io.config));
  if (v.execution === "layer-by-layer") {
    const { inMemoryBytes, layerByLayerBytes } = v.estimates;
    const limit = j.io.config.workerMemoryLimitBytes;
    await j.r.log(
      `running layer by layer: in memory the job needs about ${gib(inMemoryBytes)}, more than this worker's ${gib(limit)}; one decoder layer at a time it needs about ${gib(layerByLayerBytes!)}`,
      { execution: v.execution, inMemoryBytes, layerByLayerBytes, limitBytes: limit, threads: v.layerByLayer!.threads },
    );
  }
}

/** The calibration windows and, by method, the one-shot mask itself or the MaskLLM prior (unless a snapshot replaces it). */
async function calibrating(j: JobRun): Promise<void> {
  const { spec } = j;
  const { model, tokenizer } = (j.loaded = await loadModelDir(j.source!.dir));
  const windows = await calibrationWindows(j, tokenizer, chatRenderer(tokenizer), spec.method === "maskllm" ? spec.training.seed : 0);
  const run = (j.run = { srcDir: j.source!.dir, model, tokenizer, pattern: j.pattern, targets: spec.targets, ignore: spec.ignore, windows, events: j.r });
  if (spec.method !== "maskllm") {
    const res = await oneShotMasks(run, { method: spec.method, update: spec.method === "sparsegpt" });
    j.masks = res.masks;
    j.updated = res.weights;
    return;
  }
  // a snapshot of an earlier attempt replaces the prior (its logits already contain it)
  const snapshot = await j.r.latestSnapshotKey();
  j.resume = snapshot
    ? await readBlob(j.io.store, snapshot).catch((err: unknown) => {
        if (err instanceof BlobNotFoundError) return undefined;
        throw err;
      })
    : undefined;
  const p = spec.prior;
  if (typeof p === "object") j.parentMaskId = p.mask_id;
  const numel = new Map(j.validated!.targets.map((t) => [t, weight(model, t).size]));
  j.prior = priorOnce(run, typeof p === "object" ? () => loadStoredMask(p.mask_id, spec.pattern, numel, j.io) : p);
  if (!j.resume) await j.prior();
}

async function training(j: JobRun): Promise<void> {
  const spec = j.spec as MaskllmJobSpec;
  const steps = spec.training.steps;
  const t0 = performance.now();
  // a shutdown lets training reach its next snapshot when that is near (handback.ts), else snapshots on abort
  const gate = new TrainingStopGate(j.r.signal, { steps, snapshotEvery: spec.training.snapshot_every });
  let result: TrainMasksResult;
  try {
    result = await trainLogits(j.run!, {
      options: trainingOptions(spec, Math.max(1, Math.min(25, Math.floor(steps / 40)))),
      targets: j.validated!.targets,
      prior: j.prior!,
      resume: j.resume,
      restartOnStaleSnapshot: true,
      // training threads share each step's micro-batches; the mask does not depend on how many there are
      threads: trainingThreads(spec, j.io.config),
      backend: tf.getBackend() as BackendChoice,
      signal: gate.signal,
      // a hand-back that could not wait for the next scheduled snapshot still stores the steps done so far
      snapshotOnAbort: isHandback,
      onProgress: (pr) => {
        const stepsPerSec = pr.tokensPerSec / (spec.training.batch_size * spec.calibration.seq_len);
        gate.progress(pr.step, stepsPerSec);
        j.r.progress(pr.step / pr.steps, { step: pr.step, steps: pr.steps, stepsPerSec, tokensPerSec: pr.tokensPerSec });
        void j.r.metrics({ ...pr }).catch(() => {});
      },
      onSnapshot: async (bytes, step) => {
        const put = await j.io.store.put(jobSnapshotKey(j.jobId, step), bytes, { contentType: "application/octet-stream", metadata: { step: String(step) } });
        // the row names the new snapshot before the old one goes
        for (const key of await j.r.snapshotStored(put, step, gate.waiting)) await j.io.store.delete(key).catch(() => {});
        gate.snapshotted(step);
      },
    });
  } finally {
    gate.dispose();
  }
  j.trained = result;
  j.training = { startStep: result.startStep, resumed: result.startStep > 0, seconds: (performance.now() - t0) / 1000, tokensPerSec: result.tokensPerSec, final: result.last ?? null };
}

async function trimming(j: JobRun): Promise<void> {
  j.masks = trimMasks(j.trained!.logits, j.trained!.targets, j.pattern);
}

/** A stage that runs its own way when validation chose the layer-by-layer path. */
function byPath(inMemory: (j: JobRun) => Promise<void>, layerByLayer: (j: JobRun) => Promise<void>): (j: JobRun) => Promise<void> {
  return (j) => (j.validated!.execution === "layer-by-layer" ? layerByLayer(j) : inMemory(j));
}

/** Every stage, by the name the contract orders them by (src/contract/status.ts). */
const STAGES: Readonly<Record<JobStage, { run: (j: JobRun) => Promise<void>; maskllmOnly?: true }>> = {
  fetching: { run: fetching },
  validating: { run: validating },
  calibrating: { run: byPath(calibrating, calibratingLayerByLayer) },
  training: { run: training, maskllmOnly: true },
  trimming: { run: trimming, maskllmOnly: true },
  evaluating: { run: byPath(evaluating, evaluatingLayerByLayer) },
  exporting: { run: byPath(exporting, exportingLayerByLayer) },
  uploading: { run: uploading },
};

/** The stages a job of this spec does not pass (one-shot methods have nothing to train or trim). */
export function skippedStages(spec: JobSpec): JobStage[] {
  return spec.method === "maskllm" ? [] : JOB_STAGES.filter((s) => STAGES[s].maskllmOnly);
}

function outcome(j: JobRun): PipelineOutcome {
  const { spec, jobId } = j;
  const source = j.source!;
  const v = j.validated!;
  const formats = new Set(spec.export.formats);
  const first = j.evals[0];
  return {
    artifacts: j.artifacts,
    baseSha256: source.sha256,
    ...(source.checkpointId ? { baseCheckpointId: source.checkpointId } : {}),
    ...(j.parentMaskId ? { parentMaskId: j.parentMaskId } : {}),
    ...(formats.has("maskllm_npz") ? { npzKey: exportedFileKey(jobId, MASK_NPZ_FILE) } : {}),
    ...(formats.has("mask_logits") && j.trained ? { logitsKey: exportedFileKey(jobId, `${MASKS_DIR}/${MASK_LOGITS_FILE}`) } : {}),
    metrics: {
      sparsity: j.sparsity, allVerified: true, eval: j.evals, stageSeconds: { ...j.r.stageSeconds }, params: v.params, maskedParams: v.maskedParams, memoryEstimateBytes: v.estimateBytes,
      execution: v.execution, memoryEstimates: v.estimates,
      ...(first ? { densePerplexity: first.densePerplexity, sparsePerplexity: first.sparsePerplexity } : {}),
      ...(j.training ? { training: j.training } : {}),
    },
  };
}

export async function runPipeline(input: PipelineInput): Promise<PipelineOutcome> {
  const { jobId, spec, reporter: r, workDir, io } = input;
  const j: JobRun = { jobId, spec, r, io, workDir, pattern: parsePattern(spec.pattern), outDir: join(workDir, "out", "model"), evals: [], artifacts: [], tensors: [] };
  const skipped = skippedStages(spec);
  try {
    for (const stage of JOB_STAGES) {
      if (skipped.includes(stage)) continue;
      await r.stage(stage);
      // whatever breaks while the job is being stopped (cancel, shutdown, lost) broke because of the stop
      await STAGES[stage].run(j).catch((err: unknown) => {
        throw r.signal.aborted ? r.signal.reason : err;
      });
    }
    await r.endStage();
    return outcome(j);
  } finally {
    for (const t of j.tensors) t.dispose();
    if (j.loaded) disposeModel(j.loaded.model);
  }
}
