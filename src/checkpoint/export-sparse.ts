// A pruned HF folder next to its source: every tensor in the source's own dtype with the pruned linears replaced
// (exact zeros where the mask drops a weight), every other file (config.json, tokenizer, ...) copied byte for byte,
// plus the files the caller adds (a job's sparsity.json and README.md, mask_compressed.npz, the CLI's
// prune_report.json). The one writer of pruned folders, for jobs and `maskforge prune` alike, so both write the same
// safetensors (with __metadata__ {"format": "pt"}, as transformers' save_pretrained writes it). The top level holds
// only what a loader should load: vLLM loads every top-level *.safetensors when there is no index, so files that are
// not the model's weights (the learned mask_logits.safetensors) go into masks/, which no loader globs. Written into
// a sibling temp folder and renamed, so a failure never leaves a half-written model.
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { CheckpointError } from "./errors.js";
import { CheckpointReader } from "./safetensors/checkpoint.js";
import { bytesToFloat32, float32ToBytes, type Dtype } from "./safetensors/dtypes.js";
import { writeCheckpoint, type TensorSpec } from "./safetensors/writer.js";

/** The subfolder of an exported folder for mask files a loader must not see (mask_logits.safetensors). */
export const MASKS_DIR = "masks";

const WEIGHT_FILE = /(\.safetensors|\.safetensors\.index\.json|\.bin|\.pt|\.pth|\.ckpt|\.npz|\.partial-\d+)$/;
const FLOAT_DTYPES = new Set<Dtype>(["F32", "F16", "BF16"]);

/**
 * W ⊙ mask, rounded through `dtype` so that what the caller evaluates in memory is exactly what a reader of
 * the exported file gets back (an F16 checkpoint with SparseGPT-updated weights would otherwise differ).
 */
export function sparseValues(values: ArrayLike<number>, mask: Uint8Array, dtype: Dtype): Float32Array {
  if (!FLOAT_DTYPES.has(dtype)) throw new CheckpointError("BAD_ARGUMENT", `cannot store a pruned weight as ${dtype}`);
  if (mask.length !== values.length) throw new CheckpointError("BAD_SHAPE", `mask has ${mask.length} values, the weight ${values.length}`);
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? values[i] : 0;
  return dtype === "F32" ? out : bytesToFloat32(float32ToBytes(out, dtype as "F16" | "BF16"), dtype);
}

/** The dtype each tensor has in the source folder. */
export async function sourceDtypes(srcDir: string): Promise<Map<string, Dtype>> {
  const reader = await CheckpointReader.open(srcDir);
  try {
    const out = new Map<string, Dtype>();
    for (const name of reader.names) out.set(name, (await reader.entry(name)).dtype);
    return out;
  } finally {
    await reader.close();
  }
}

export interface SparseFolderInput {
  srcDir: string;
  outDir: string;
  /**
   * weight name → its final values (from sparseValues), or a function that makes them when the writer reaches the
   * weight, so that only one is in memory at a time (the writer rounds them to the source dtype; a function that
   * gives undefined leaves the weight as stored); every other tensor is copied as stored
   */
  replaced: ReadonlyMap<string, Float32Array | (() => Promise<Float32Array | undefined>)>;
  /** extra files (name → content), written last so they win over a source file of the same name */
  extraFiles?: Record<string, string | Uint8Array>;
  /** files written into MASKS_DIR, out of a loader's sight (name → content) */
  maskFiles?: Record<string, Uint8Array>;
  maxShardBytes?: number;
  /** the order tensors are written in (default: the source's); a streamed prune writes layer by layer */
  tensorOrder?: (a: string, b: string) => number;
  /** side files known only once every tensor is written (a streamed prune's masks and report), merged into the above */
  sideFiles?: () => Promise<{ extraFiles?: Record<string, string | Uint8Array>; maskFiles?: Record<string, Uint8Array> }>;
}

/**
 * Writes the extra files into `dir` and the mask files into `dir`/masks/; returns their paths relative to `dir`.
 * The folder's side files, for a pruned folder and for a job that exports no model alike.
 */
export async function writeSideFiles(dir: string, extraFiles: Record<string, string | Uint8Array> = {}, maskFiles: Record<string, Uint8Array> = {}): Promise<string[]> {
  const plain = (name: string) => {
    if (name.includes("/") || name.startsWith(".")) throw new CheckpointError("BAD_ARGUMENT", `extra file name ${JSON.stringify(name)} must be a plain file name`);
    return name;
  };
  const out: string[] = [];
  for (const [name, content] of Object.entries(extraFiles)) {
    await writeFile(join(dir, plain(name)), content);
    out.push(name);
  }
  if (Object.keys(maskFiles).length > 0) await mkdir(join(dir, MASKS_DIR), { recursive: true });
  for (const [name, content] of Object.entries(maskFiles)) {
    await writeFile(join(dir, MASKS_DIR, plain(name)), content);
    out.push(`${MASKS_DIR}/${name}`);
  }
  return out;
}

/** Writes the folder; returns the paths of the files in it, relative to it ("masks/…" for mask files). */
export async function writeSparseFolder(input: SparseFolderInput): Promise<string[]> {
  const { srcDir, outDir } = input;
  const tmp = join(dirname(outDir), `.${basename(outDir)}.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const reader = await CheckpointReader.open(srcDir);
  try {
    const files: string[] = [];
    for (const f of await readdir(srcDir)) {
      if (WEIGHT_FILE.test(f) || !(await stat(join(srcDir, f))).isFile()) continue;
      await copyFile(join(srcDir, f), join(tmp, f));
      files.push(f);
    }
    const specs: TensorSpec[] = [];
    for (const name of reader.names) {
      const e = await reader.entry(name);
      if (input.replaced.has(name) && !FLOAT_DTYPES.has(e.dtype)) throw new CheckpointError("BAD_ARGUMENT", `cannot write a pruned weight back as ${e.dtype}`, name);
      specs.push({ name, dtype: e.dtype, shape: e.shape });
    }
    if (input.tensorOrder) specs.sort((a, b) => input.tensorOrder!(a.name, b.name));
    for (const name of input.replaced.keys()) if (!reader.has(name)) throw new CheckpointError("TENSOR_NOT_FOUND", "pruned, but not in the source checkpoint", name, srcDir);
    const written = await writeCheckpoint(
      tmp,
      specs,
      async (spec) => {
        const r = input.replaced.get(spec.name);
        const values = typeof r === "function" ? await r() : r;
        return values ?? (await reader.readBytes(spec.name)).bytes;
      },
      { metadata: { format: "pt" }, maxShardBytes: input.maxShardBytes ?? 5 * 1024 ** 3 },
    );
    files.push(...written);
    const late = (await input.sideFiles?.()) ?? {};
    const extraFiles = { ...input.extraFiles, ...late.extraFiles };
    const maskFiles = { ...input.maskFiles, ...late.maskFiles };
    for (const name of await writeSideFiles(tmp, extraFiles, maskFiles)) if (!files.includes(name)) files.push(name);
    await rm(outDir, { recursive: true, force: true });
    await rename(tmp, outDir);
    return files.sort();
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    await reader.close();
  }
}
