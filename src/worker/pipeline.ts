// The pruning pipeline of one job, stage by stage: fetch the dense model, validate it, build the calibration
// windows (and the prior), train the MaskLLM logits (or compute a one-shot mask), trim, evaluate dense and
// sparse perplexity, export the sparse HF folder and upload it. Every stage goes through the reporter (event,
// timing, progress, cancel check). The outcome is only registered as final by run-job.ts.
import { createReadStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PrismaClient } from "@prisma/client";
import * as tf from "@tensorflow/tfjs";
import type { Config } from "../config.js";
import { InvalidJobError } from "../contract/errors.js";
import { JOB_EVENT_TYPES } from "../contract/events.js";
import type { JobSpec, MaskllmJobSpec } from "../contract/job-spec.js";
import { parsePattern } from "../maskllm/mask/nm.js";
import { appendEvent } from "../db/jobs.repository.js";
import { sparseValues, sourceDtypes, writeSparseFolder } from "../checkpoint/export-sparse.js";
import { loadModelDir } from "../checkpoint/load.js";
import { encodeMaskLogits, MASK_LOGITS_FILE } from "../checkpoint/mask-logits.js";
import { decodeMaskNpz, encodeMaskNpz, MASK_NPZ_FILE } from "../checkpoint/mask-npz.js";
import { renderModelCard, type ModelCardInput } from "../checkpoint/model-card.js";
import { evalWindows, readDocuments, sampleWindows, tokenizeStream, type TextFormat } from "../checkpoint/text-dataset.js";
import type { TextTokenizer } from "../checkpoint/tokenizer.js";
import { perplexity } from "../maskllm/eval/perplexity.js";
import { disposeModel, weight, type LlamaModel } from "../maskllm/llama/model.js";
import { verifyNMMask, zerosMatchMask } from "../maskllm/mask/verify.js";
import { computeOneShotMasks } from "../maskllm/prune/oneshot.js";
import { TrainingAbortedError } from "../maskllm/train/errors.js";
import { trainMasks } from "../maskllm/train/loop.js";
import type { MaskTrainingOptions } from "../maskllm/train/options.js";
import { candidateCount } from "../maskllm/train/logits.js";
import { SnapshotError } from "../maskllm/train/snapshot.js";
import { trimMasks } from "../maskllm/train/trim.js";
import type { BackendChoice } from "../maskllm/backend.js";
import { startTrainingThreads } from "../parallel/training-threads.js";
import { BlobNotFoundError, jobModelKey, jobSnapshotKey, type BlobStore } from "../storage/index.js";
import { loadText } from "./datasets.js";
import type { JobIoContext } from "./job-io-context.js";
import { TrainingStopGate, isHandback } from "./handback.js";
import type { JobReporter } from "./reporter.js";
import { fetchSource, type FetchedSource } from "./source/fetch-source.js";
import { trainingThreads, validateCheckpoint } from "./validate.js";

/** Windows per forward pass when evaluating; fixed so anyone can reproduce the reported perplexity. */
export const EVAL_BATCH_SIZE = 8;

export interface PipelineDeps {
  config: Config;
  prisma: PrismaClient;
  store: BlobStore;
}

export interface PipelineInput {
  jobId: string;
  tenantId: string | null;
  spec: JobSpec;
  reporter: JobReporter;
  workDir: string;
}

export interface UploadedArtifact {
  kind: "model_file" | "mask_npz" | "mask_logits" | "report";
  name: string;
  storageKey: string;
  bytes: number;
  sha256: string;
}

export interface EvalResult {
  dataset: string;
  seqLen: number;
  windows: number;
  tokens: number;
  densePerplexity: number;
  sparsePerplexity: number;
}

export interface PipelineOutcome {
  artifacts: UploadedArtifact[];
  metrics: Record<string, unknown>;
  baseSha256: string;
  baseCheckpointId?: string;
  parentMaskId?: string;
  npzKey?: string;
  logitsKey?: string;
}

/**
 * The token stream of a dataset. With maxTokens, documents are tokenized in order only until the stream is that
 * long: calibration samples a few windows, and tokenizing all of a large file would dominate a short job.
 */
async function tokens(ref: string, format: TextFormat | undefined, tokenizer: TextTokenizer, ctx: JobIoContext, maxTokens = Infinity): Promise<Int32Array> {
  const t = await loadText(ref, ctx);
  const docs = readDocuments(t.text, format ?? t.format);
  if (docs.length === 0) throw new InvalidJobError("dataset_invalid", `dataset ${ref} holds no ${format ?? t.format} documents`);
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

/** Tokens read for calibration: many times what the sampled windows cover, so they stay spread out. */
export function calibrationTokenBudget(samples: number, seqLen: number): number {
  return Math.max(16 * samples * seqLen, 50_000);
}

/** The spec's training block in the training loop's terms. */
export function trainingOptions(spec: MaskllmJobSpec, progressEvery: number): Partial<MaskTrainingOptions> {
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

async function readBlob(store: BlobStore, key: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await store.get(key)) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
  }
  // a fresh buffer of its own: decoders view it as Float32Array, which a pooled Buffer's offset would break
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

async function priorFromMask(deps: PipelineDeps, maskId: string, tenantId: string | null, spec: JobSpec, model: LlamaModel, targets: string[]): Promise<Map<string, Uint8Array>> {
  const row = await deps.prisma.maskArtifact.findUnique({ where: { id: maskId } });
  if (!row || (row.tenantId !== null && row.tenantId !== tenantId)) throw new InvalidJobError("mask_incompatible", `mask ${maskId} does not exist`);
  if (row.pattern !== spec.pattern) throw new InvalidJobError("mask_incompatible", `mask ${maskId} is ${row.pattern}, the job asks for ${spec.pattern}`);
  if (!row.npzKey) throw new InvalidJobError("mask_incompatible", `mask ${maskId} has no stored hard mask`);
  let bytes: Uint8Array;
  try {
    bytes = await readBlob(deps.store, row.npzKey);
  } catch (err) {
    if (err instanceof BlobNotFoundError) throw new InvalidJobError("mask_incompatible", `mask ${maskId}'s file is missing from storage`);
    throw err;
  }
  const numel = new Map(targets.map((t) => [t, weight(model, t).size]));
  try {
    return decodeMaskNpz(bytes, numel, { require: true });
  } catch (err) {
    throw new InvalidJobError("mask_incompatible", `mask ${maskId} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
}

export async function runPipeline(deps: PipelineDeps, input: PipelineInput): Promise<PipelineOutcome> {
  const { jobId, spec, reporter: r, workDir } = input;
  const { config, prisma, store } = deps;
  const pattern = parsePattern(spec.pattern);
  const dctx: JobIoContext = { config, prisma, store, tenantId: input.tenantId, dir: workDir, signal: r.signal };
  const timings: Record<string, number> = {};

  // fetching
  await r.stage("fetching");
  let source: FetchedSource;
  try {
    source = await fetchSource(spec.source, { config, prisma, store, tenantId: input.tenantId, dir: join(workDir, "src"), signal: r.signal });
  } catch (err) {
    throw r.signal.aborted ? r.signal.reason : err;
  }
  await appendEvent(prisma, jobId, {
    type: JOB_EVENT_TYPES.log,
    message: `fetched ${source.files.length} files (${source.files.reduce((a, f) => a + f.bytes, 0)} bytes) from ${source.description}`,
    data: { files: source.files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })), sha256: source.sha256 },
  });

  // validating
  await r.stage("validating");
  const v = await validateCheckpoint(source.dir, spec, config);

  // calibrating (and the prior, or the one-shot mask itself)
  await r.stage("calibrating");
  const { model, tokenizer } = await loadModelDir(source.dir);
  const extraTensors: tf.Tensor[] = [];
  try {
    const seed = spec.method === "maskllm" ? spec.training.seed : 0;
    const calibTokens = await tokens(spec.calibration.dataset, spec.calibration.format, tokenizer, dctx, calibrationTokenBudget(spec.calibration.samples, spec.calibration.seq_len));
    if (calibTokens.length < spec.calibration.seq_len)
      throw new InvalidJobError("dataset_invalid", `${spec.calibration.dataset} has ${calibTokens.length} tokens, fewer than one window of calibration.seq_len=${spec.calibration.seq_len}`);
    const windows = sampleWindows(calibTokens, spec.calibration.samples, spec.calibration.seq_len, seed);
    r.check();

    let masks: Map<string, Uint8Array>;
    let updated: Map<string, Float32Array> | undefined;
    let logits: Map<string, Float32Array> | undefined;
    let parentMaskId: string | undefined;
    let training: Record<string, unknown> | undefined;
    const oneShotProgress = (p: { layer: number; layers: number }) => r.progress((p.layer + 1) / Math.max(1, p.layers));

    if (spec.method !== "maskllm") {
      const res = await computeOneShotMasks(model, windows, {
        method: spec.method, pattern, update: spec.method === "sparsegpt", targets: spec.targets, ignore: spec.ignore,
        onProgress: oneShotProgress, signal: r.signal,
      }).catch((err) => {
        throw r.signal.aborted ? r.signal.reason : err;
      });
      masks = res.masks;
      updated = res.weights;
    } else {
      // a snapshot of an earlier attempt replaces the prior (its logits already contain it)
      let resume: Uint8Array | undefined;
      try {
        resume = await readBlob(store, jobSnapshotKey(jobId));
      } catch (err) {
        if (!(err instanceof BlobNotFoundError)) throw err;
      }
      let prior: Map<string, Uint8Array> | undefined;
      const p = spec.prior;
      if (typeof p === "object") {
        parentMaskId = p.mask_id;
        if (!resume) prior = await priorFromMask(deps, p.mask_id, input.tenantId, spec, model, v.targets);
      } else if (p !== "none" && !resume) {
        const res = await computeOneShotMasks(model, windows, { method: p, pattern, update: false, targets: spec.targets, ignore: spec.ignore, onProgress: oneShotProgress, signal: r.signal }).catch((err) => {
          throw r.signal.aborted ? r.signal.reason : err;
        });
        prior = res.masks;
      }

      // training
      await r.stage("training");
      const steps = spec.training.steps;
      const opts = trainingOptions(spec, Math.max(1, Math.min(25, Math.floor(steps / 40))));
      const t0 = performance.now();
      // training threads share each step's micro-batches; the mask does not depend on how many there are
      const threads = trainingThreads(spec, config);
      const pool = await startTrainingThreads(model, threads, tf.getBackend() as BackendChoice);
      if (pool.threads > 1) await appendEvent(prisma, jobId, { type: JOB_EVENT_TYPES.log, message: `training on ${threads} threads (${pool.kind === "host" ? "each op split over them" : `${spec.training.micro_batches} micro-batches per step`})`, data: { threads, microBatches: spec.training.micro_batches } });
      // a shutdown lets training reach its next snapshot when that is near (handback.ts), else snapshots on abort
      const gate = new TrainingStopGate(r.signal, { steps, snapshotEvery: spec.training.snapshot_every });
      const run = async (from: Uint8Array | undefined) =>
        trainMasks({
          model, windows, options: opts, targets: v.targets, prior, resume: from, signal: gate.signal, replicas: pool.replicas, executor: pool.executor,
          // a hand-back that could not wait for the next scheduled snapshot still stores the steps done so far
          snapshotOnAbort: isHandback,
          onProgress: (pr) => {
            const stepsPerSec = pr.tokensPerSec / (spec.training.batch_size * spec.calibration.seq_len);
            gate.progress(pr.step, stepsPerSec);
            r.progress(pr.step / pr.steps, { step: pr.step, steps: pr.steps, stepsPerSec, tokensPerSec: pr.tokensPerSec });
            void r.metrics({ ...pr }).catch(() => {});
          },
          onSnapshot: async (bytes, step) => {
            const put = await store.put(jobSnapshotKey(jobId), bytes, { contentType: "application/octet-stream", metadata: { step: String(step) } });
            const art = await prisma.artifact.upsert({
              where: { storageKey: put.key },
              create: { jobId, kind: "snapshot", name: "snapshot.safetensors", storageKey: put.key, bytes: BigInt(put.bytes), sha256: put.sha256 },
              update: { bytes: BigInt(put.bytes), sha256: put.sha256 },
            });
            const handingBack = gate.waiting;
            await appendEvent(prisma, jobId, {
              type: JOB_EVENT_TYPES.snapshot,
              message: handingBack ? `snapshot at step ${step}, taken for the hand-back on shutdown` : `snapshot at step ${step}`,
              data: { step, artifactId: art.id, ...(handingBack ? { reason: "shutdown" } : {}) },
            });
            gate.snapshotted(step);
          },
        });
      let result;
      try {
        try {
          result = await run(resume);
        } catch (err) {
          if (!(err instanceof SnapshotError) || !resume) throw err;
          // a snapshot from another spec or version: start over rather than fail the job
          await appendEvent(prisma, jobId, { type: JOB_EVENT_TYPES.log, level: "warn", message: `stored snapshot not usable (${err.message}); training from the start` });
          if (typeof p === "object") prior = await priorFromMask(deps, p.mask_id, input.tenantId, spec, model, v.targets);
          else if (p !== "none")
            prior = (await computeOneShotMasks(model, windows, { method: p, pattern, update: false, targets: spec.targets, ignore: spec.ignore, signal: r.signal })).masks;
          resume = undefined;
          result = await run(undefined);
        }
      } catch (err) {
        throw err instanceof TrainingAbortedError || r.signal.aborted ? (r.signal.reason ?? err) : err;
      } finally {
        gate.dispose();
        await pool.close();
      }
      logits = result.logits;
      training = {
        startStep: result.startStep,
        resumed: result.startStep > 0,
        seconds: (performance.now() - t0) / 1000,
        tokensPerSec: result.tokensPerSec,
        final: result.last ?? null,
      };
      if (result.startStep > 0)
        await appendEvent(prisma, jobId, { type: JOB_EVENT_TYPES.log, message: `resumed training from the snapshot at step ${result.startStep}`, data: { step: result.startStep } });

      // trimming
      await r.stage("trimming");
      masks = trimMasks(result.logits, result.targets, pattern);
    }

    // evaluating: the sparse model is exactly what the exported files hold (values rounded through their dtype)
    await r.stage("evaluating");
    const dtypes = await sourceDtypes(source.dir);
    const replaced = new Map<string, Float32Array>();
    const layers: { name: string; shape: [number, number]; sparsity: number; nmVerified: boolean }[] = [];
    for (const [name, mask] of masks) {
      const w = weight(model, name);
      const base = updated?.get(name) ?? ((await w.data()) as Float32Array);
      const values = sparseValues(base, mask, dtypes.get(name) ?? "F32");
      replaced.set(name, values);
      const [rows, cols] = w.shape as [number, number];
      let zeros = 0;
      for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
      const nmVerified = verifyNMMask(mask, rows, cols, pattern).ok && zerosMatchMask(values, mask);
      layers.push({ name, shape: [rows, cols], sparsity: zeros / values.length, nmVerified });
    }
    if (!layers.every((l) => l.nmVerified)) throw new Error(`N:M verification failed for ${layers.filter((l) => !l.nmVerified).map((l) => l.name).join(", ")}`);
    const sparse: LlamaModel = { config: model.config, weights: new Map(model.weights) };
    for (const [name, values] of replaced) {
      const t = tf.tensor(values, weight(model, name).shape, "float32");
      extraTensors.push(t);
      sparse.weights.set(name, t);
    }
    const evals: EvalResult[] = [];
    const evalSeq = spec.eval.seq_len;
    for (const [i, ds] of spec.eval.datasets.entries()) {
      const w = evalWindows(await tokens(ds, undefined, tokenizer, dctx), evalSeq);
      if (w.length === 0) throw new InvalidJobError("dataset_invalid", `eval dataset ${ds} is shorter than one window of ${evalSeq} tokens`);
      r.check();
      const dense = perplexity(model, w, { batchSize: EVAL_BATCH_SIZE, onProgress: (d, n) => r.progress((i + (d / n) * 0.5) / spec.eval.datasets.length) });
      await new Promise((res) => setImmediate(res));
      r.check();
      const sp = perplexity(sparse, w, { batchSize: EVAL_BATCH_SIZE, onProgress: (d, n) => r.progress((i + 0.5 + (d / n) * 0.5) / spec.eval.datasets.length) });
      evals.push({ dataset: ds, seqLen: evalSeq, windows: w.length, tokens: dense.tokens, densePerplexity: dense.perplexity, sparsePerplexity: sp.perplexity });
      await r.metrics({ eval: evals[evals.length - 1] }, true);
    }
    const sparsity = layers.reduce((a, l) => a + l.sparsity * l.shape[0] * l.shape[1], 0) / layers.reduce((a, l) => a + l.shape[0] * l.shape[1], 0);

    // exporting
    await r.stage("exporting");
    const hyperparameters: Record<string, unknown> = {
      targets: spec.targets, ignore: spec.ignore, calibration: spec.calibration,
      ...(spec.method === "maskllm" ? { prior: spec.prior, training: spec.training } : { update: spec.method === "sparsegpt" }),
    };
    const priorName = spec.method === "maskllm" ? (typeof spec.prior === "object" ? `mask ${spec.prior.mask_id}` : spec.prior) : undefined;
    const sidecar = {
      format: "maskforge-sparsity", version: 1, pattern: spec.pattern, method: spec.method, ...(priorName ? { prior: priorName } : {}),
      hyperparameters, base: { description: source.description, sha256: source.sha256, ...(source.checkpointId ? { checkpointId: source.checkpointId } : {}) },
      job: jobId, sparsity, layers, eval: evals, evalBatchSize: EVAL_BATCH_SIZE, ...(training ? { training } : {}),
    };
    const card: ModelCardInput = {
      name: spec.metadata.name ?? `${source.description} ${spec.pattern} (${spec.method})`, baseModel: source.description, baseSha256: source.sha256,
      pattern: spec.pattern, method: spec.method, prior: priorName, hyperparameters, layers, sparsity, eval: evals, jobId,
    };
    const outDir = join(workDir, "out", "model");
    await mkdir(join(workDir, "out"), { recursive: true });
    const formats = new Set(spec.export.formats);
    const extraFiles: Record<string, string | Uint8Array> = { "sparsity.json": JSON.stringify(sidecar, null, 2) + "\n", "README.md": renderModelCard(card) };
    if (formats.has("maskllm_npz")) extraFiles[MASK_NPZ_FILE] = encodeMaskNpz(masks);
    if (formats.has("mask_logits") && logits) {
      extraFiles[MASK_LOGITS_FILE] = encodeMaskLogits(logits, candidateCount(pattern), {
        pattern: spec.pattern, baseSha256: source.sha256, steps: spec.method === "maskllm" ? spec.training.steps : 0, hyperparameters,
        ...(priorName ? { parentMask: priorName } : {}), ...(spec.method === "maskllm" ? { seed: spec.training.seed } : {}),
      });
    }
    let files: string[];
    if (formats.has("hf_safetensors")) files = await writeSparseFolder({ srcDir: source.dir, outDir, replaced, extraFiles });
    else {
      const { writeFile } = await import("node:fs/promises");
      await mkdir(outDir, { recursive: true });
      for (const [n, c] of Object.entries(extraFiles)) await writeFile(join(outDir, n), c);
      files = Object.keys(extraFiles).sort();
    }

    // uploading
    await r.stage("uploading");
    const artifacts: UploadedArtifact[] = [];
    for (const [i, f] of files.entries()) {
      r.check();
      const key = jobModelKey(jobId, f);
      const put = await store.put(key, createReadStream(join(outDir, f)), { contentType: f.endsWith(".json") ? "application/json" : f.endsWith(".md") ? "text/markdown" : "application/octet-stream" });
      const kind = f === MASK_NPZ_FILE ? "mask_npz" : f === MASK_LOGITS_FILE ? "mask_logits" : f === "sparsity.json" ? "report" : "model_file";
      artifacts.push({ kind, name: f, storageKey: put.key, bytes: put.bytes, sha256: put.sha256 });
      r.progress((i + 1) / files.length);
    }
    await r.endStage();
    for (const [k, s] of Object.entries(r.stageSeconds)) timings[k] = s;

    const first = evals[0];
    return {
      artifacts,
      baseSha256: source.sha256,
      ...(source.checkpointId ? { baseCheckpointId: source.checkpointId } : {}),
      ...(parentMaskId ? { parentMaskId } : {}),
      ...(formats.has("maskllm_npz") ? { npzKey: jobModelKey(jobId, MASK_NPZ_FILE) } : {}),
      ...(formats.has("mask_logits") && logits ? { logitsKey: jobModelKey(jobId, MASK_LOGITS_FILE) } : {}),
      metrics: {
        sparsity, allVerified: true, eval: evals, stageSeconds: timings, params: v.params, maskedParams: v.maskedParams, memoryEstimateBytes: v.estimateBytes,
        ...(first ? { densePerplexity: first.densePerplexity, sparsePerplexity: first.sparsePerplexity } : {}),
        ...(training ? { training } : {}),
      },
    };
  } finally {
    for (const t of extraTensors) t.dispose();
    disposeModel(model);
  }
}

/** For tests and tools: the sidecar of an exported folder. */
export async function readSidecar(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, "sparsity.json"), "utf8")) as Record<string, unknown>;
}
