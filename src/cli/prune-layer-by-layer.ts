// `maskforge prune --layer-by-layer`: one-shot N:M pruning (magnitude, Wanda, SparseGPT) of a model whose float32
// weights need not fit in memory. Nothing is loaded whole: the config and tokenizer are read, the calibration windows
// made as for any prune, and checkpoint/prune-streaming.ts reads, prunes and writes one decoder layer at a time on
// host arrays, every product on our GEMM over --threads threads. The folder is written by the same writer as any
// pruned folder (bf16 in, bf16 out; mask_compressed.npz; prune_report.json), so it loads like one.
import { readdir } from "node:fs/promises";
import { basename } from "node:path";
import { parseHfConfig } from "../checkpoint/hf-config.js";
import { readConfigJson } from "../checkpoint/load.js";
import { pruneCheckpointStreaming } from "../checkpoint/prune-streaming.js";
import { loadTokenizer } from "../checkpoint/tokenizer.js";
import { parsePattern } from "../maskllm/mask/nm.js";
import { PruneInputError } from "../maskllm/prune/errors.js";
import type { OneShotMethod, PruneReport } from "../maskllm/prune/oneshot.js";
import { withExecutor } from "../parallel/op-pool.js";
import { defaultTrainingThreads } from "../parallel/thread-replicas.js";

export const LAYER_BY_LAYER_METHODS: readonly string[] = ["magnitude", "wanda", "sparsegpt"] satisfies OneShotMethod[];

/** The CLI options it reads (a part of prune's). */
export interface LayerByLayerCliOptions {
  method: string;
  pattern: string;
  update: boolean;
  targets: string[];
  ignore: string[];
  /** threads each product is split over (default: one per core) */
  threads?: number;
  /** calibration windows per forward pass */
  batchSize: number;
  maxShardBytes?: number;
  calib?: string;
  /** recorded in prune_report.json */
  calibFormat: string;
  seed: number;
}

export interface LayerByLayerRun {
  srcDir: string;
  outDir: string;
  /** makes the calibration windows once the tokenizer is known (none for magnitude) */
  windows: (tokenizer: Awaited<ReturnType<typeof loadTokenizer>>) => Promise<Int32Array[]>;
  log: (line: string) => void;
}

/** Prunes srcDir into outDir layer by layer; returns the report (prune_report.json holds it too, paths as names). */
export async function runLayerByLayer(run: LayerByLayerRun, o: LayerByLayerCliOptions): Promise<PruneReport & { threads: number }> {
  if (!LAYER_BY_LAYER_METHODS.includes(o.method)) throw new PruneInputError(`--layer-by-layer runs ${LAYER_BY_LAYER_METHODS.join(", ")}, not ${o.method}`);
  const existing = await readdir(run.outDir).catch(() => undefined);
  if (existing && existing.length > 0) throw new PruneInputError(`output folder ${run.outDir} exists and is not empty`);
  const config = parseHfConfig(await readConfigJson(run.srcDir), "config.json");
  const tokenizer = await loadTokenizer(run.srcDir);
  const windows = await run.windows(tokenizer);
  // one layer's products are large enough to split over every core
  const threads = o.threads ?? defaultTrainingThreads();
  return withExecutor(threads, async (executor) => {
    const t0 = performance.now();
    const method = o.method as OneShotMethod;
    const { report } = await pruneCheckpointStreaming(run.srcDir, run.outDir, config, windows, {
      method, pattern: parsePattern(o.pattern), update: method === "sparsegpt" && o.update, targets: o.targets, ignore: o.ignore,
      executor, windowsPerBatch: o.batchSize, maxShardBytes: o.maxShardBytes,
      onProgress: (p) => {
        if (p.phase === "calibrate" || (p.phase === "prune" && method === "magnitude" && p.weightName?.endsWith("q_proj.weight")))
          run.log(`layer ${p.layer + 1}/${p.layers} at ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      },
      // the folder's report names its inputs by name: it travels, and must not carry this machine's paths
      extraFiles: (r) => ({
        "prune_report.json": JSON.stringify({ ...r, layerByLayer: true, threads, weights_updated: method === "sparsegpt" && o.update, model: basename(run.srcDir), calibFile: o.calib ? basename(o.calib) : null, calibFormat: o.calibFormat, seed: o.seed }, null, 2) + "\n",
      }),
    });
    return { ...report, threads };
  });
}
