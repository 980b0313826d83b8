// LlamaModel → a HF folder (config.json, safetensors, tokenizer files copied from the source folder).
// Written into a sibling temp folder and renamed into place, so a failure never leaves a half-written model.
import { copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { LlamaModel } from "../maskllm/llama/model.js";
import { expectedWeightShapes } from "../maskllm/llama/model.js";
import { CheckpointError } from "./errors.js";
import { toHfConfig } from "./hf-config.js";
import { writeCheckpoint, type TensorSpec } from "./safetensors/writer.js";

export const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "generation_config.json"];

export interface ExportOptions {
  /** folder whose tokenizer files are copied */
  sourceDir?: string;
  dtype?: "F32" | "F16" | "BF16";
  maxShardBytes?: number;
  /** merged into config.json (e.g. a note on the sparsity) */
  extraConfig?: Record<string, unknown>;
  /** refuse to replace an existing folder (default true) */
  failIfExists?: boolean;
}

export async function exportModelDir(model: LlamaModel, outDir: string, opts: ExportOptions = {}): Promise<string[]> {
  if (opts.failIfExists !== false && (await stat(outDir).then(() => true, () => false)))
    throw new CheckpointError("BAD_ARGUMENT", "the output folder already exists", undefined, outDir);
  const dtype = opts.dtype ?? "F32";
  const specs: TensorSpec[] = [...expectedWeightShapes(model.config)].map(([name, shape]) => {
    const w = model.weights.get(name);
    if (!w) throw new CheckpointError("MISSING_TENSOR", "the model lacks it", name);
    if (w.shape.join() !== shape.join()) throw new CheckpointError("WRONG_SHAPE", `has shape ${JSON.stringify(w.shape)}, expected ${JSON.stringify(shape)}`, name);
    return { name, dtype, shape };
  });
  const tmp = join(dirname(outDir), `.${basename(outDir)}.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    // one tensor at a time leaves the backend: dataSync copies only that tensor
    const files = await writeCheckpoint(tmp, specs, (s) => model.weights.get(s.name)!.dataSync() as Float32Array, {
      metadata: { format: "pt" },
      maxShardBytes: opts.maxShardBytes,
    });
    const torchDtype = { F32: "float32", F16: "float16", BF16: "bfloat16" }[dtype];
    await writeFile(join(tmp, "config.json"), JSON.stringify(toHfConfig(model.config, { torch_dtype: torchDtype, ...opts.extraConfig }), null, 2) + "\n");
    files.push("config.json");
    if (opts.sourceDir)
      for (const f of TOKENIZER_FILES) {
        const ok = await copyFile(join(opts.sourceDir, f), join(tmp, f)).then(() => true, (e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return false;
          throw e;
        });
        if (ok) files.push(f);
      }
    await rm(outDir, { recursive: true, force: true });
    await rename(tmp, outDir);
    return files;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err instanceof CheckpointError ? err : new CheckpointError("WRITE_FAILED", (err as Error).message, undefined, outDir);
  }
}
