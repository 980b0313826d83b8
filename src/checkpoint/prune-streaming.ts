// Layer-by-layer one-shot pruning from a checkpoint folder into a new one, for models whose float32 weights do not
// fit in memory: the pruner (maskllm/prune/layer-by-layer.ts) reads each decoder layer's tensors from the source
// shards when it gets to it, and the writer pulls each pruned layer as it reaches that layer's tensors, so one
// layer is resident at a time. Tensors keep their source dtype (bf16 in, bf16 out); the ones the pruner does not
// touch (embeddings, norms, lm_head) are copied byte for byte. Files appear only when complete (writeCheckpoint).
import type { LlamaConfig } from "../maskllm/llama/config.js";
import type { Executor } from "../maskllm/host/ops.js";
import { pruneLayerByLayer, type LayerByLayerOptions, type PrunedLayer } from "../maskllm/prune/layer-by-layer.js";
import type { PruneReport } from "../maskllm/prune/oneshot.js";
import { CheckpointReader } from "./safetensors/checkpoint.js";
import { writeCheckpoint, type TensorSpec } from "./safetensors/writer.js";

export interface StreamingPruneOptions extends Omit<LayerByLayerOptions, "executor"> {
  executor: Executor;
  /** shard size of the written checkpoint (default 2 GiB) */
  maxShardBytes?: number;
  /** sees each pruned layer after its tensors are written out (e.g. to store its masks) */
  onLayer?: (layer: PrunedLayer) => void | Promise<void>;
}

const layerOf = (name: string): number | undefined => {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
};

/**
 * Prunes the checkpoint in `srcDir` (model.safetensors or shards + index) layer by layer and writes the pruned
 * weights to `outDir` (same tensor names, shapes and dtypes). Returns the files written and the pruner's report.
 */
export async function pruneCheckpointStreaming(srcDir: string, outDir: string, config: LlamaConfig, calibWindows: readonly Int32Array[], opts: StreamingPruneOptions): Promise<{ files: string[]; report: PruneReport }> {
  const reader = await CheckpointReader.open(srcDir);
  try {
    const specs: TensorSpec[] = [];
    for (const name of reader.names) {
      const e = await reader.entry(name);
      specs.push({ name, dtype: e.dtype, shape: [...e.shape] });
    }
    // embeddings first, then layer by layer (the order the pruner produces them), then the rest
    const rank = (n: string) => (n.startsWith("model.embed_tokens.") ? -1 : layerOf(n) ?? Infinity);
    specs.sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    const layers = pruneLayerByLayer(config, { read: async (name) => (await reader.readFloat32(name)).values }, calibWindows, opts);
    let current: PrunedLayer | undefined;
    let report: PruneReport | undefined;
    const advance = async () => {
      if (current) await opts.onLayer?.(current);
      const r = await layers.next();
      if (r.done) {
        report = r.value;
        current = undefined;
      } else current = r.value;
      return !r.done;
    };
    const files = await writeCheckpoint(
      outDir,
      specs,
      async (spec) => {
        // a layer's first tensor brings its pruned weights; what the pruner did not change is copied as it is
        const l = layerOf(spec.name);
        if (l !== undefined) while ((current?.layer ?? -1) < l) if (!(await advance())) break;
        const pruned = l !== undefined && current?.layer === l ? current.weights.get(spec.name) : undefined;
        return pruned ?? (await reader.readBytes(spec.name)).bytes;
      },
      { maxShardBytes: opts.maxShardBytes ?? 2 * 1024 ** 3, metadata: { format: "pt" } },
    );
    while (!report) await advance();
    return { files, report };
  } finally {
    await reader.close();
  }
}
