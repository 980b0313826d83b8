// The stages of a one-shot job whose model does not fit the worker's memory (validate.ts picks this path): nothing
// loads the whole model. Calibrating prunes the source folder one decoder layer at a time straight into a staged HF
// folder (checkpoint/prune-streaming.ts, the CLI's `prune --layer-by-layer`); evaluating runs the streamed perplexity
// (maskllm/eval/perplexity-layer-by-layer.ts) on the source and on the staged folder, so the sparse figure is exactly
// what the export holds; exporting adds the sidecar and card to that folder. Every product runs on an op pool over
// the plan's threads, closed when its stage ends.
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { chatRenderer } from "../checkpoint/chat-template.js";
import { pruneCheckpointStreaming } from "../checkpoint/prune-streaming.js";
import { MASK_NPZ_FILE } from "../checkpoint/mask-npz.js";
import { CheckpointReader } from "../checkpoint/safetensors/checkpoint.js";
import { loadTokenizer } from "../checkpoint/tokenizer.js";
import { writeSideFiles } from "../checkpoint/export-sparse.js";
import { LayerByLayerPerplexity } from "../maskllm/eval/perplexity-layer-by-layer.js";
import { LINEAR_SUFFIXES } from "../maskllm/llama/model.js";
import { unpackBits } from "../maskllm/mask/packbits.js";
import { verifyNMMask, zerosMatchMask } from "../maskllm/mask/verify.js";
import type { OneShotMethod } from "../maskllm/prune/oneshot.js";
import { withExecutor } from "../parallel/op-pool.js";
import type { JobRun, LayerRow } from "./job-run.js";
import { sideFiles } from "./job-outputs.js";
import { calibrationWindows, evalDatasetWindows } from "./job-datasets.js";

/** The staged folder's place in the job's scratch space (moved to outDir when exported). */
const stagedDir = (j: JobRun) => join(j.workDir, "staged", "model");

/** The plan's threads: every product of a stage runs on an executor over them, closed when the stage ends. */
const planThreads = (j: JobRun) => j.validated!.layerByLayer!.threads;

export async function calibratingLayerByLayer(j: JobRun): Promise<void> {
  const { spec } = j;
  const v = j.validated!;
  const srcDir = j.source!.dir;
  const tokenizer = (j.tokenizer = await loadTokenizer(srcDir));
  const windows = await calibrationWindows(j, tokenizer, chatRenderer(tokenizer), 0);
  const L = v.llama.numHiddenLayers;
  const t0 = performance.now();
  await mkdir(join(j.workDir, "staged"), { recursive: true });
  const { files, report, packedMasks: packed } = await withExecutor(planThreads(j), (executor) =>
    pruneCheckpointStreaming(srcDir, stagedDir(j), v.llama, windows, {
      method: spec.method as OneShotMethod, pattern: j.pattern, update: spec.method === "sparsegpt", targets: spec.targets, ignore: spec.ignore,
      executor, windowsPerBatch: v.layerByLayer!.windowsPerBatch, signal: j.r.signal,
      onLayer: async (layer) => {
        j.r.progress((layer.layer + 1) / L, { step: layer.layer + 1, steps: L });
        await j.r.log(`layer ${layer.layer + 1}/${L} pruned`, { layer: layer.layer, layers: L, seconds: (performance.now() - t0) / 1000 });
        j.r.check();
      },
    }),
  );
  j.staged = { dir: stagedDir(j), files, packed };
  await j.r.log(`pruned ${report.layers.length} linears layer by layer in ${report.seconds.toFixed(1)} s`, { linears: report.layers.length, sparsity: report.sparsity });
}

/** Each pruned linear as the staged folder holds it (read back through its dtype): sparsity and N:M verification. */
async function layerRows(j: JobRun): Promise<LayerRow[]> {
  const staged = j.staged!;
  const reader = await CheckpointReader.open(staged.dir);
  try {
    const rows: LayerRow[] = [];
    for (let l = 0; l < j.validated!.llama.numHiddenLayers; l++)
      for (const s of LINEAR_SUFFIXES) {
        const name = `model.layers.${l}.${s}.weight`;
        const bits = staged.packed.get(name);
        if (!bits) continue;
        const { shape, values } = await reader.readFloat32(name);
        const [r, cols] = shape as [number, number];
        const mask = unpackBits(bits, values.length);
        let zeros = 0;
        for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
        rows.push({ name, shape: [r, cols], sparsity: zeros / values.length, nmVerified: verifyNMMask(mask, r, cols, j.pattern).ok && zerosMatchMask(values, mask) });
      }
    return rows;
  } finally {
    await reader.close();
  }
}

/** Dense and sparse perplexity, streamed: the source's weights, then the staged folder's, a layer at a time. */
export async function evaluatingLayerByLayer(j: JobRun): Promise<void> {
  const v = j.validated!;
  const plan = v.layerByLayer!;
  const layers = (j.layers = await layerRows(j));
  if (!layers.every((l) => l.nmVerified)) throw new Error(`N:M verification failed for ${layers.filter((l) => !l.nmVerified).map((l) => l.name).join(", ")}`);
  j.sparsity = layers.reduce((a, l) => a + l.sparsity * l.shape[0] * l.shape[1], 0) / layers.reduce((a, l) => a + l.shape[0] * l.shape[1], 0);
  const { datasets, seq_len: seqLen } = j.spec.eval;
  if (datasets.length === 0) return;
  const tokenizer = j.tokenizer!;
  const chat = chatRenderer(tokenizer);
  const dense = await CheckpointReader.open(j.source!.dir);
  const sparse = await CheckpointReader.open(j.staged!.dir);
  try {
    await withExecutor(planThreads(j), async (executor) => {
      const ev = new LayerByLayerPerplexity(v.llama, seqLen, { executor, groupWindows: plan.evalGroupWindows, windowsPerBatch: plan.evalWindowsPerBatch });
      for (const [i, item] of datasets.entries()) {
        const { label: ds, windows: w } = await evalDatasetWindows(j, item, tokenizer, chat);
        const run = (reader: CheckpointReader, half: number) =>
          ev.run({ read: async (name) => (await reader.readFloat32(name)).values }, w, {
            signal: j.r.signal,
            onProgress: (d, n) => j.r.progress((i + half * 0.5 + (d / n) * 0.5) / datasets.length),
          });
        const d = await run(dense, 0);
        const sp = await run(sparse, 1);
        j.evals.push({ dataset: ds, seqLen, windows: w.length, tokens: d.tokens, densePerplexity: d.perplexity, sparsePerplexity: sp.perplexity });
        await j.r.metrics({ eval: j.evals[j.evals.length - 1] }, true);
      }
    });
  } finally {
    await dense.close();
    await sparse.close();
  }
}

/** The staged folder becomes the export: the sidecar and card added, the mask file kept only when asked for. */
export async function exportingLayerByLayer(j: JobRun): Promise<void> {
  const formats = new Set(j.spec.export.formats);
  const staged = j.staged!;
  const { extraFiles, maskFiles } = sideFiles(j);
  await mkdir(join(j.workDir, "out"), { recursive: true });
  if (formats.has("hf_safetensors")) {
    const side = await writeSideFiles(staged.dir, extraFiles, maskFiles);
    if (!formats.has("maskllm_npz")) await rm(join(staged.dir, MASK_NPZ_FILE));
    await rm(j.outDir, { recursive: true, force: true });
    await rename(staged.dir, j.outDir);
    j.files = [...new Set([...staged.files, ...side])].filter((f) => formats.has("maskllm_npz") || f !== MASK_NPZ_FILE).sort();
  } else {
    // no model asked for: the side files (and the masks) alone
    await mkdir(j.outDir, { recursive: true });
    const side = await writeSideFiles(j.outDir, extraFiles, maskFiles);
    if (formats.has("maskllm_npz")) await rename(join(staged.dir, MASK_NPZ_FILE), join(j.outDir, MASK_NPZ_FILE));
    j.files = [...side, ...(formats.has("maskllm_npz") ? [MASK_NPZ_FILE] : [])].sort();
    await rm(staged.dir, { recursive: true, force: true });
  }
  // what is left of the staging area: nothing
  if ((await readdir(join(j.workDir, "staged"))).length === 0) await rm(join(j.workDir, "staged"), { recursive: true });
}
