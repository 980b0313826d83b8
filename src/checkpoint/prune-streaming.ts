// Layer-by-layer one-shot pruning of a checkpoint folder into a new HF folder, for models whose float32 weights do
// not fit in memory: the pruner (maskllm/prune/layer-by-layer.ts) reads each decoder layer's tensors from the source
// shards when it gets to it, and the folder's one writer (export-sparse.ts, as for jobs and `maskforge prune`) pulls
// each pruned layer as it reaches that layer's tensors, so one layer is resident at a time. Tensors keep their source
// dtype (bf16 in, bf16 out); what the pruner does not change is copied byte for byte, the masks are kept bit-packed
// (1 bit a weight) for mask_compressed.npz, and nothing appears in outDir unless all of it is written.
import type { LlamaConfig } from "../maskllm/llama/config.js";
import { LINEAR_SUFFIXES } from "../maskllm/llama/model.js";
import type { Executor } from "../maskllm/host/ops.js";
import { packBits } from "../maskllm/mask/packbits.js";
import { pruneLayerByLayer, type LayerByLayerOptions, type PrunedLayer } from "../maskllm/prune/layer-by-layer.js";
import type { PruneReport } from "../maskllm/prune/oneshot.js";
import { writeSparseFolder } from "./export-sparse.js";
import { encodePackedMaskNpz, MASK_NPZ_FILE } from "./mask-npz.js";
import { CheckpointReader } from "./safetensors/checkpoint.js";

export interface StreamingPruneOptions extends Omit<LayerByLayerOptions, "executor"> {
  executor: Executor;
  /** shard size of the written checkpoint (default 5 GB, as for every pruned folder) */
  maxShardBytes?: number;
  /** sees each pruned layer after its tensors are written out */
  onLayer?: (layer: PrunedLayer) => void | Promise<void>;
  /** more files for the folder, made from the run's report once every layer is written (e.g. prune_report.json) */
  extraFiles?: (report: PruneReport) => Record<string, string | Uint8Array>;
}

const layerOf = (name: string): number | undefined => {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
};

/** Embeddings first, then layer by layer (the order the pruner yields them), then the rest. */
function layerOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith("model.embed_tokens.") ? -1 : layerOf(n) ?? Infinity);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Prunes the checkpoint in `srcDir` (model.safetensors or shards + index) layer by layer into the HF folder `outDir`:
 * the source's tensors (same names, shapes and dtypes) and files, plus mask_compressed.npz and the caller's files.
 * Returns the files written, the pruner's report, and every mask packed 1 bit a weight (what the npz holds).
 */
export async function pruneCheckpointStreaming(srcDir: string, outDir: string, config: LlamaConfig, calibWindows: readonly Int32Array[], opts: StreamingPruneOptions): Promise<{ files: string[]; report: PruneReport; packedMasks: Map<string, Uint8Array> }> {
  const reader = await CheckpointReader.open(srcDir);
  try {
    const layers = pruneLayerByLayer(config, { read: async (name) => (await reader.readFloat32(name)).values }, calibWindows, opts);
    const packed = new Map<string, Uint8Array>();
    let current: PrunedLayer | undefined;
    let report: PruneReport | undefined;
    const advance = async () => {
      if (current) {
        for (const [name, mask] of current.masks) packed.set(name, packBits(mask));
        await opts.onLayer?.(current);
      }
      const r = await layers.next();
      if (r.done) {
        report = r.value;
        current = undefined;
      } else current = r.value;
      return !r.done;
    };
    // a layer's first linear brings its pruned weights; one the pruner left alone (not targeted) is copied as stored
    const pruned = async (name: string, l: number) => {
      while ((current?.layer ?? -1) < l) if (!(await advance())) break;
      return current?.layer === l ? current.weights.get(name) : undefined;
    };
    const replaced = new Map<string, () => Promise<Float32Array | undefined>>();
    for (let l = 0; l < config.numHiddenLayers; l++)
      for (const s of LINEAR_SUFFIXES) {
        const name = `model.layers.${l}.${s}.weight`;
        if (reader.has(name)) replaced.set(name, () => pruned(name, l));
      }
    const files = await writeSparseFolder({
      srcDir, outDir, replaced, tensorOrder: layerOrder, maxShardBytes: opts.maxShardBytes,
      sideFiles: async () => {
        while (!report) await advance();
        return { extraFiles: { [MASK_NPZ_FILE]: encodePackedMaskNpz(packed), ...opts.extraFiles?.(report) } };
      },
    });
    return { files, report: report!, packedMasks: packed };
  } finally {
    await reader.close();
  }
}
