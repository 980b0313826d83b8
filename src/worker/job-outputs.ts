// The stages that make what a job leaves behind: dense and sparse perplexity, the exported folder (written by
// checkpoint/export-sparse.ts, as `maskforge prune` writes its own) with its sidecar, card and mask files, and
// the upload of that folder.
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { MASKS_DIR, sparseValues, sourceDtypes, writeSideFiles, writeSparseFolder } from "../checkpoint/export-sparse.js";
import { encodeMaskLogits, MASK_LOGITS_FILE } from "../checkpoint/mask-logits.js";
import { encodeMaskNpz, MASK_NPZ_FILE } from "../checkpoint/mask-npz.js";
import { renderModelCard, type ModelCardInput } from "../checkpoint/model-card.js";
import { perplexity } from "../maskllm/eval/perplexity.js";
import { weight, type LlamaModel } from "../maskllm/llama/model.js";
import { verifyNMMask, zerosMatchMask } from "../maskllm/mask/verify.js";
import { candidateCount } from "../maskllm/train/logits.js";
import { jobMaskKey, jobModelKey } from "../storage/index.js";
import { chatRenderer } from "../checkpoint/chat-template.js";
import { evalDatasetWindows } from "./job-datasets.js";
import { redactSpec } from "../contract/job-spec/source.js";
import type { JobRun, LayerRow } from "./job-run.js";

/** Windows per forward pass when evaluating; fixed so anyone can reproduce the reported perplexity. */
export const EVAL_BATCH_SIZE = 8;

/** Dense and sparse perplexity; the sparse model is exactly what the exported files hold (values rounded through their dtype). */
export async function evaluating(j: JobRun): Promise<void> {
  const { model, tokenizer } = j.loaded!;
  const dtypes = await sourceDtypes(j.source!.dir);
  const replaced = (j.replaced = new Map<string, Float32Array>());
  const layers: LayerRow[] = (j.layers = []);
  for (const [name, mask] of j.masks!) {
    const w = weight(model, name);
    const values = sparseValues(j.updated?.get(name) ?? ((await w.data()) as Float32Array), mask, dtypes.get(name) ?? "F32");
    replaced.set(name, values);
    const [rows, cols] = w.shape as [number, number];
    let zeros = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
    layers.push({ name, shape: [rows, cols], sparsity: zeros / values.length, nmVerified: verifyNMMask(mask, rows, cols, j.pattern).ok && zerosMatchMask(values, mask) });
  }
  if (!layers.every((l) => l.nmVerified)) throw new Error(`N:M verification failed for ${layers.filter((l) => !l.nmVerified).map((l) => l.name).join(", ")}`);
  const sparse: LlamaModel = { config: model.config, weights: new Map(model.weights) };
  for (const [name, values] of replaced) {
    const t = tf.tensor(values, weight(model, name).shape, "float32");
    j.tensors.push(t);
    sparse.weights.set(name, t);
  }
  const { datasets, seq_len: seqLen } = j.spec.eval;
  const chat = chatRenderer(tokenizer);
  for (const [i, item] of datasets.entries()) {
    const { label: ds, windows: w } = await evalDatasetWindows(j, item, tokenizer, chat);
    const dense = perplexity(model, w, { batchSize: EVAL_BATCH_SIZE, onProgress: (d, n) => j.r.progress((i + (d / n) * 0.5) / datasets.length) });
    await new Promise((res) => setImmediate(res));
    j.r.check();
    const sp = perplexity(sparse, w, { batchSize: EVAL_BATCH_SIZE, onProgress: (d, n) => j.r.progress((i + 0.5 + (d / n) * 0.5) / datasets.length) });
    j.evals.push({ dataset: ds, seqLen, windows: w.length, tokens: dense.tokens, densePerplexity: dense.perplexity, sparsePerplexity: sp.perplexity });
    await j.r.metrics({ eval: j.evals[j.evals.length - 1] }, true);
  }
  j.sparsity = layers.reduce((a, l) => a + l.sparsity * l.shape[0] * l.shape[1], 0) / layers.reduce((a, l) => a + l.shape[0] * l.shape[1], 0);
}

/** The folder's side files: the sidecar (sparsity.json) and model card, and the learned logits the spec asks for. */
export function sideFiles(j: JobRun): { extraFiles: Record<string, string | Uint8Array>; maskFiles: Record<string, Uint8Array> } {
  const { spec, jobId } = j;
  const source = j.source!;
  const formats = new Set(spec.export.formats);
  const hyperparameters: Record<string, unknown> = {
    // the folder travels: a Hub token of a dataset must not
    targets: spec.targets, ignore: spec.ignore, calibration: redactSpec(spec).calibration,
    ...(spec.method === "maskllm" ? { prior: spec.prior, training: spec.training } : { update: spec.method === "sparsegpt" }),
  };
  const priorName = spec.method === "maskllm" ? (typeof spec.prior === "object" ? `mask ${spec.prior.mask_id}` : spec.prior) : undefined;
  const layers = j.layers!;
  // SparseGPT with update changes the kept weights: MaskLLM's tooling, which rebuilds a model as dense × mask, must not
  const weightsUpdated = (j.updated?.size ?? 0) > 0 || (j.validated!.execution === "layer-by-layer" && spec.method === "sparsegpt");
  const logits = formats.has("mask_logits") ? j.trained?.logits : undefined;
  const sidecar = {
    format: "maskforge-sparsity", version: 1, pattern: spec.pattern, method: spec.method, ...(priorName ? { prior: priorName } : {}), weights_updated: weightsUpdated,
    // in memory, or one decoder layer at a time (a model that does not fit the worker: validate.ts)
    execution: j.validated!.execution,
    hyperparameters, base: { description: source.description, sha256: source.sha256, ...(source.checkpointId ? { checkpointId: source.checkpointId } : {}) },
    job: jobId, sparsity: j.sparsity, layers, eval: j.evals, evalBatchSize: EVAL_BATCH_SIZE, ...(j.training ? { training: j.training } : {}),
  };
  const card: ModelCardInput = {
    name: spec.metadata.name ?? `${source.description} ${spec.pattern} (${spec.method})`, baseModel: source.description, baseSha256: source.sha256,
    pattern: spec.pattern, method: spec.method, prior: priorName, weightsUpdated, maskLogits: logits !== undefined, hyperparameters, layers, sparsity: j.sparsity!, eval: j.evals, jobId,
  };
  const extraFiles: Record<string, string | Uint8Array> = { "sparsity.json": JSON.stringify(sidecar, null, 2) + "\n", "README.md": renderModelCard(card) };
  const maskFiles: Record<string, Uint8Array> = {};
  if (logits)
    maskFiles[MASK_LOGITS_FILE] = encodeMaskLogits(logits, candidateCount(j.pattern), {
      pattern: spec.pattern, baseSha256: source.sha256, steps: spec.method === "maskllm" ? spec.training.steps : 0, hyperparameters,
      ...(priorName ? { parentMask: priorName } : {}), ...(spec.method === "maskllm" ? { seed: spec.training.seed } : {}),
    });
  return { extraFiles, maskFiles };
}

/** The sparse HF folder with its sidecar (sparsity.json), model card and the mask files the spec asks for. */
export async function exporting(j: JobRun): Promise<void> {
  const formats = new Set(j.spec.export.formats);
  const { extraFiles, maskFiles } = sideFiles(j);
  await mkdir(join(j.workDir, "out"), { recursive: true });
  if (formats.has("maskllm_npz")) extraFiles[MASK_NPZ_FILE] = encodeMaskNpz(j.masks!);
  if (formats.has("hf_safetensors")) j.files = await writeSparseFolder({ srcDir: j.source!.dir, outDir: j.outDir, replaced: j.replaced!, extraFiles, maskFiles });
  else {
    await mkdir(j.outDir, { recursive: true });
    j.files = (await writeSideFiles(j.outDir, extraFiles, maskFiles)).sort();
  }
}

/** Where a file of the exported folder is stored: the model's files under the model's prefix, masks/… apart from it. */
export function exportedFileKey(jobId: string, file: string): string {
  return file.startsWith(`${MASKS_DIR}/`) ? jobMaskKey(jobId, basename(file)) : jobModelKey(jobId, file);
}

export async function uploading(j: JobRun): Promise<void> {
  const files = j.files!;
  for (const [i, f] of files.entries()) {
    j.r.check();
    const put = await j.io.store.put(exportedFileKey(j.jobId, f), createReadStream(join(j.outDir, f)), { contentType: f.endsWith(".json") ? "application/json" : f.endsWith(".md") ? "text/markdown" : "application/octet-stream" });
    const name = basename(f);
    const kind = name === MASK_NPZ_FILE ? "mask_npz" : name === MASK_LOGITS_FILE ? "mask_logits" : name === "sparsity.json" ? "report" : "model_file";
    j.artifacts.push({ kind, name, storageKey: put.key, bytes: put.bytes, sha256: put.sha256 });
    j.r.progress((i + 1) / files.length);
  }
}
