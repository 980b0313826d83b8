// `maskforge prune <model-dir>`: N:M pruning of a HF LLaMA folder into a new HF folder, on this machine. It runs a
// job's stage functions (src/worker/stages.ts) and writes the folder with checkpoint/export-sparse.ts, so a folder
// it writes is what a job would write. Methods dispatch through PRUNE_METHODS, so a new method is one more entry.
import { readdir } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { Command, Option } from "commander";
import { parsePattern } from "../../maskllm/mask/nm.js";
import { maskedWeight, type LayerReport } from "../../maskllm/prune/oneshot.js";
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../maskllm/prune/select-layers.js";
import { PruneInputError } from "../../maskllm/prune/errors.js";
import { initBackend, type BackendChoice } from "../../maskllm/backend.js";
import { loadConfig } from "../../config.js";
import { useNativeKernels } from "../../native/kernels.js";
import { weight } from "../../maskllm/llama/model.js";
import { writeSparseFolder } from "../../checkpoint/export-sparse.js";
import { loadModelDir } from "../../checkpoint/load.js";
import { encodeMaskNpz, MASK_NPZ_FILE } from "../../checkpoint/mask-npz.js";
import { fileDocuments } from "../../checkpoint/dataset-formats.js";
import { FORMAT_CHOICES, FORMAT_HELP, type FormatChoice } from "../../contract/datasets.js";
import type { TextTokenizer } from "../../checkpoint/tokenizer.js";
import { DEFAULT_TRAINING_OPTIONS } from "../../maskllm/train/options.js";
import { oneShotMasks, sampleCalibration, tokenizeDocuments, type PruneRun, type StageEvents } from "../../worker/stages.js";
import { runMaskLlm, MASKLLM_PRIORS } from "../prune-maskllm.js";
import { runLayerByLayer } from "../prune-layer-by-layer.js";

export interface PruneRunOutcome {
  /** per HF weight name, 0/1 (1 = keep), row-major [out, in] */
  masks: Map<string, Uint8Array>;
  /** replacement weights (exact zeros at pruned entries) where the method changes kept weights */
  weights?: Map<string, Float32Array>;
  /** per-layer rows for the table; any further fields of the method's report go into the JSON line as they are */
  report: { layers: LayerReport[]; sparsity: number; allVerified: boolean; seconds: number };
  /** files for the output folder's masks/ subfolder, out of a loader's sight (maskllm: mask_logits.safetensors) */
  maskFiles?: Map<string, Uint8Array>;
}

export interface PruneMethod {
  needsCalibration: boolean;
  /** whether --no-update means anything for it */
  supportsUpdate: boolean;
  run(run: PruneRun, o: PruneCliOptions): Promise<PruneRunOutcome>;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

const oneShot = (method: "magnitude" | "wanda" | "sparsegpt"): PruneMethod => ({
  needsCalibration: method !== "magnitude",
  supportsUpdate: method === "sparsegpt",
  run: (run, o) =>
    oneShotMasks(run, {
      method, update: method === "sparsegpt" && o.update, batchSize: o.batchSize,
      onProgress: (p) => {
        if (!o.json && p.phase === "calibrate") log(`block ${p.layer + 1}/${p.layers}: calibrating`);
      },
    }),
});

/** Add a method here (name → runner); the CLI's --method choices follow this map. */
export const PRUNE_METHODS: Record<string, PruneMethod> = {
  magnitude: oneShot("magnitude"),
  wanda: oneShot("wanda"),
  sparsegpt: oneShot("sparsegpt"),
  maskllm: {
    needsCalibration: true,
    supportsUpdate: false,
    run: async (run, o) => {
      const r = await runMaskLlm(o, run);
      return { masks: r.masks, maskFiles: r.maskFiles, report: r.report as unknown as PruneRunOutcome["report"] };
    },
  },
};

/** `count` seeded windows of seqLen tokens from a dataset file in any format (BOS before each document). */
export async function calibrationWindows(file: string, format: FormatChoice, tokenizer: TextTokenizer, count: number, seqLen: number, seed: number, field?: string): Promise<Int32Array[]> {
  const data = await fileDocuments(file, format, tokenizer, field);
  return sampleCalibration(tokenizeDocuments(data.docs, data.format, tokenizer, file), count, seqLen, seed, file);
}

/** A run's events on the console: no stop but the process's own, log lines on stderr unless the output is JSON. */
function consoleEvents(json: boolean | undefined): StageEvents {
  return {
    signal: new AbortController().signal,
    check: () => {},
    progress: () => {},
    log: async (message) => {
      if (!json) log(message);
    },
  };
}

/**
 * Writes the pruned HF folder with the writer jobs use: every tensor of the source checkpoint in its own dtype, the
 * pruned linears replaced (made one at a time as the writer reaches them); config.json, tokenizer and the other
 * small files copied byte for byte; the masks as mask_compressed.npz (where MaskLLM's tooling looks for it: no loader
 * reads .npz), prune_report.json, and the method's mask files in masks/.
 */
export async function writePrunedFolder(run: PruneRun, outDir: string, outcome: PruneRunOutcome, report: unknown, maxShardBytes?: number): Promise<void> {
  const existing = await readdir(outDir).catch(() => undefined);
  if (existing && existing.length > 0) throw new PruneInputError(`output folder ${outDir} exists and is not empty`);
  const replaced = new Map(
    [...outcome.masks].map(([name, mask]) => [name, async () => outcome.weights?.get(name) ?? maskedWeight((await weight(run.model, name).data()) as Float32Array, mask)] as const),
  );
  const extraFiles: Record<string, string | Uint8Array> = { [MASK_NPZ_FILE]: encodeMaskNpz(outcome.masks) };
  extraFiles["prune_report.json"] = JSON.stringify(report, null, 2) + "\n";
  await writeSparseFolder({ srcDir: run.srcDir, outDir, replaced, extraFiles, maskFiles: Object.fromEntries(outcome.maskFiles ?? []), maxShardBytes });
}

function formatTable(layers: LayerReport[]): string {
  const rows = layers.map((l) => [l.name, `${l.shape[0]}×${l.shape[1]}`, l.sparsity.toFixed(4), l.nmVerified ? "yes" : "NO", l.relError === null ? "-" : l.relError.toFixed(4), l.seconds.toFixed(2)]);
  const head = ["layer", "shape", "sparsity", "N:M ok", "rel.err", "s"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new PruneInputError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
};
const list = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);

export interface PruneCliOptions {
  method: string;
  update: boolean;
  pattern: string;
  calib?: string;
  calibFormat: FormatChoice;
  /** the JSONL key or Parquet column */
  calibField?: string;
  calibSamples: number;
  seqLen: number;
  seed: number;
  out: string;
  json?: boolean;
  targets: string[];
  ignore: string[];
  batchSize: number;
  backend: BackendChoice;
  /** maskllm */
  prior: string;
  steps: number;
  lr?: number;
  snapshotEvery?: number;
  resume?: string;
  microBatches: number;
  threads?: number;
  /** one-shot methods: prune one decoder layer at a time from the checkpoint's files (models that do not fit in memory) */
  layerByLayer?: boolean;
  /** shard the written weights into files of at most this many bytes (default 5 GB, transformers' default) */
  maxShardBytes?: number;
}

export async function runPrune(modelDir: string, o: PruneCliOptions): Promise<PruneRunOutcome["report"]> {
  const method = PRUNE_METHODS[o.method];
  if (!method) throw new PruneInputError(`unknown --method '${o.method}' (one of ${Object.keys(PRUNE_METHODS).join(", ")})`);
  const pattern = parsePattern(o.pattern);
  if (method.needsCalibration && !o.calib) throw new PruneInputError(`--method ${o.method} needs --calib <file>`);
  if (o.layerByLayer) return pruneLayerByLayerCli(modelDir, o);
  const backend = await initBackend(o.backend);
  useNativeKernels(loadConfig().nativeKernels); // MaskLLM's host trainer: native linear products where they load
  const t0 = performance.now();
  const srcDir = resolve(modelDir);
  const { model, tokenizer } = await loadModelDir(srcDir);
  try {
    const windows = o.calib ? await calibrationWindows(o.calib, o.calibFormat, tokenizer, o.calibSamples, o.seqLen, o.seed, o.calibField) : [];
    const run: PruneRun = { srcDir, model, tokenizer, pattern, targets: o.targets, ignore: o.ignore, windows, events: consoleEvents(o.json) };
    const outcome = await method.run(run, o);
    // SparseGPT with update changes the kept weights: dense × mask (mask_compressed.npz) is then not the written model
    const weightsUpdated = (outcome.weights?.size ?? 0) > 0;
    const report = {
      ...outcome.report, weights_updated: weightsUpdated, model: srcDir, out: resolve(o.out), backend,
      calibFile: o.calib ?? null, calibFormat: o.calibFormat, seed: o.seed, totalSeconds: 0,
    };
    // the folder's prune_report.json names its inputs by name: it travels, and must not carry this machine's paths
    const { out: _out, ...inFolder } = report;
    await writePrunedFolder(run, resolve(o.out), outcome, { ...inFolder, model: basename(srcDir), calibFile: o.calib ? basename(o.calib) : null }, o.maxShardBytes);
    report.totalSeconds = (performance.now() - t0) / 1000;
    if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
    else {
      process.stdout.write(`${formatTable(outcome.report.layers)}\n`);
      process.stdout.write(`${o.method}${method.supportsUpdate ? (o.update ? " (with update)" : " (mask only)") : ""} ${o.pattern}: sparsity ${outcome.report.sparsity.toFixed(4)}, all N:M verified: ${outcome.report.allVerified}, ${report.totalSeconds.toFixed(1)} s; wrote ${resolve(o.out)}\n`);
    }
    if (!outcome.report.allVerified) throw new Error("some pruned layers failed the N:M verification (see the report)");
    return report;
  } finally {
    for (const t of model.weights.values()) t.dispose();
  }
}

async function pruneLayerByLayerCli(modelDir: string, o: PruneCliOptions): Promise<PruneRunOutcome["report"]> {
  const t0 = performance.now();
  const outDir = resolve(o.out);
  await initBackend("wasm"); // the host ops' kernels; the model never enters a TF.js backend
  useNativeKernels(loadConfig().nativeKernels); // the products on the native GEMM where it loads; the pool's threads follow
  const report = await runLayerByLayer(
    {
      srcDir: resolve(modelDir), outDir,
      windows: async (tokenizer) => (o.calib ? calibrationWindows(o.calib, o.calibFormat, tokenizer, o.calibSamples, o.seqLen, o.seed, o.calibField) : []),
      log: (line) => void (o.json || log(line)),
    },
    o,
  );
  const seconds = (performance.now() - t0) / 1000;
  if (o.json) process.stdout.write(JSON.stringify({ ...report, out: outDir, totalSeconds: seconds }) + "\n");
  else {
    process.stdout.write(`${formatTable(report.layers)}\n`);
    process.stdout.write(`${o.method} ${o.pattern} layer by layer on ${report.threads} thread(s): sparsity ${report.sparsity.toFixed(4)}, all N:M verified: ${report.allVerified}, ${seconds.toFixed(1)} s, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; wrote ${outDir}\n`);
  }
  if (!report.allVerified) throw new Error("some pruned layers failed the N:M verification (see the report)");
  return report;
}

export function register(program: Command): void {
  program
    .command("prune")
    .description("one-shot N:M pruning of a HF LLaMA folder (magnitude, Wanda, SparseGPT) into a new HF folder")
    .argument("<model-dir>", "HF model folder (config.json, safetensors, tokenizer)")
    .addOption(new Option("--method <name>", "pruning method").choices(Object.keys(PRUNE_METHODS)).makeOptionMandatory())
    .option("--no-update", "sparsegpt: keep the weights, choose the mask only (MaskLLM's prior)")
    .option("--pattern <n:m>", "N:M pattern", "2:4")
    .option("--calib <file>", "calibration dataset file (text, JSONL or Parquet)")
    .addOption(new Option("--calib-format <format>", `how the calibration file is read: ${FORMAT_HELP}`).choices(FORMAT_CHOICES).default("auto"))
    .option("--calib-field <name>", "the JSONL key or Parquet column to read (default text, else messages)")
    .option("--calib-samples <n>", "calibration windows", int("calib-samples", 1), 128)
    .option("--seq-len <n>", "tokens per calibration window", int("seq-len", 2), 256)
    .option("--seed <n>", "seed of the window sampler", int("seed", 0), 0)
    .requiredOption("--out <dir>", "output folder (must not exist or be empty)")
    .option("--targets <globs>", "comma-separated module-name globs to prune", list, [...DEFAULT_TARGETS])
    .option("--ignore <globs>", "comma-separated module-name globs to leave dense", list, [...DEFAULT_IGNORE])
    .option("--batch-size <n>", "calibration windows per forward pass", int("batch-size", 1), 8)
    .addOption(new Option("--backend <name>", "TF.js backend").choices(["auto", "tensorflow", "wasm", "cpu", "webgpu"]).default("auto"))
    .option("--max-shard-bytes <n>", "split the weights into model-0000i-of-0000n.safetensors files of at most n bytes, with model.safetensors.index.json (default 5 GB)", int("max-shard-bytes", 1))
    .option("--layer-by-layer", "magnitude/wanda/sparsegpt: read, prune and write one decoder layer at a time, on host arrays over --threads threads, for models whose float32 weights do not fit in memory (bf16 shards stay bf16)")
    .option("--json", "print the report as one JSON line")
    .option("--prior <prior>", `maskllm: prior mask, ${MASKLLM_PRIORS.join("|")} or a mask .npz / mask-logits .safetensors file`, "sparsegpt")
    .option("--steps <n>", "maskllm: training steps (--batch-size windows of --seq-len tokens each)", int("steps", 1), 1000)
    .option("--lr <x>", "maskllm: peak learning rate (cosine to a tenth of it; default 5e-4)", (v: string) => {
      const x = Number(v);
      if (!(x > 0) || !Number.isFinite(x)) throw new PruneInputError(`--lr must be a positive number, got '${v}'`);
      return x;
    })
    .option("--snapshot-every <k>", "maskllm: write a resumable snapshot to <out>.snapshot every k steps", int("snapshot-every", 1))
    .option("--resume <snapshot>", "maskllm: go on from a snapshot file")
    .option("--micro-batches <k>", "maskllm: parts each step's batch is cut into, so that threads can share a step (part of the run: a resume needs the same k)", int("micro-batches", 1), DEFAULT_TRAINING_OPTIONS.microBatches)
    .option("--threads <n>", "maskllm: threads computing the parts (default: one per core, at most --micro-batches); --layer-by-layer: threads each product is split over (default: one per core). Results do not depend on it", int("threads", 1))
    .action(async (modelDir: string, o: PruneCliOptions) => {
      await runPrune(modelDir, o);
    });
}
