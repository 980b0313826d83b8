// The learned mask distribution as a safetensors file (mask_logits.safetensors): per masked weight,
// "<weight name>.mask_logits" F32 [groups, C(M,N)], candidates in lexicographic kept-index order (patterns.ts).
// __metadata__ (strings): format "pt" (as on every safetensors file we write: transformers 4.32-4.46 refuse a file
// without it), maskforge "mask-logits" (what says this is a logits file), version, pattern, base_sha256, steps,
// hyperparameters (JSON), parent_mask, seed. Files written before that said format "maskforge-mask-logits"
// instead; they still read. Usable as the prior of a new run (transfer): the argmax candidate of each group is the
// prior mask M0. It never sits beside the model's weights (loaders glob *.safetensors): see export-sparse.ts.
import { CheckpointError } from "./errors.js";
import { encodeHeader, type TensorSpec } from "./safetensors/writer.js";
import { SafetensorsReader } from "./safetensors/reader.js";
import { bytesSource } from "./safetensors/source.js";

export const MASK_LOGITS_FILE = "mask_logits.safetensors";
/** __metadata__.maskforge of a logits file */
export const MASK_LOGITS_KIND = "mask-logits";
/** __metadata__.format of logits files written before they carried format "pt" */
const LEGACY_FORMAT = "maskforge-mask-logits";
const SUFFIX = ".mask_logits";

export interface MaskLogitsMeta {
  pattern: string;
  /** sha256 of the base checkpoint the logits were learned on, when known */
  baseSha256?: string;
  steps: number;
  hyperparameters: Record<string, unknown>;
  /** where the prior came from: "sparsegpt", "none", a file's sha256 … */
  parentMask?: string;
  seed?: number;
}

export interface MaskLogitsFile {
  meta: MaskLogitsMeta;
  /** weight name → logits, row-major [groups, candidates] */
  logits: Map<string, Float32Array>;
  candidates: number;
}

export function encodeMaskLogits(logits: Map<string, Float32Array>, candidates: number, meta: MaskLogitsMeta): Uint8Array {
  const specs: TensorSpec[] = [];
  for (const [name, v] of logits) {
    if (v.length % candidates !== 0) throw new CheckpointError("BAD_SHAPE", `${v.length} logits are not a multiple of ${candidates} candidates`, name);
    specs.push({ name: `${name}${SUFFIX}`, dtype: "F32", shape: [v.length / candidates, candidates] });
  }
  const metadata: Record<string, string> = {
    format: "pt",
    maskforge: MASK_LOGITS_KIND,
    version: "1",
    pattern: meta.pattern,
    steps: String(meta.steps),
    hyperparameters: JSON.stringify(meta.hyperparameters),
  };
  if (meta.baseSha256) metadata.base_sha256 = meta.baseSha256;
  if (meta.parentMask) metadata.parent_mask = meta.parentMask;
  if (meta.seed !== undefined) metadata.seed = String(meta.seed);
  const header = encodeHeader(specs, metadata);
  const total = header.byteLength + [...logits.values()].reduce((a, v) => a + v.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(header, 0);
  let pos = header.byteLength;
  for (const v of logits.values()) {
    out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), pos);
    pos += v.byteLength;
  }
  return out;
}

export async function decodeMaskLogits(bytes: Uint8Array, file = MASK_LOGITS_FILE): Promise<MaskLogitsFile> {
  const r = await SafetensorsReader.open(bytesSource(bytes, file));
  try {
    const md = r.metadata;
    if (md.maskforge !== MASK_LOGITS_KIND && md.format !== LEGACY_FORMAT)
      throw new CheckpointError("BAD_METADATA", `not a mask-logits file (its metadata has maskforge ${JSON.stringify(md.maskforge)}, format ${JSON.stringify(md.format)})`, undefined, file);
    let hyperparameters: Record<string, unknown>;
    try {
      hyperparameters = JSON.parse(md.hyperparameters ?? "{}");
    } catch {
      throw new CheckpointError("BAD_METADATA", "hyperparameters metadata is not JSON", undefined, file);
    }
    const steps = Number(md.steps);
    const logits = new Map<string, Float32Array>();
    let candidates = 0;
    for (const e of r.tensors) {
      if (!e.name.endsWith(SUFFIX)) continue;
      if (e.shape.length !== 2) throw new CheckpointError("BAD_SHAPE", `expected [groups, candidates], got ${JSON.stringify(e.shape)}`, e.name, file);
      if (candidates !== 0 && e.shape[1] !== candidates) throw new CheckpointError("BAD_SHAPE", "candidate counts differ between weights", e.name, file);
      candidates = e.shape[1];
      logits.set(e.name.slice(0, -SUFFIX.length), (await r.readFloat32(e.name)).values);
    }
    const meta: MaskLogitsMeta = { pattern: md.pattern ?? "", steps: Number.isFinite(steps) ? steps : 0, hyperparameters };
    if (md.base_sha256) meta.baseSha256 = md.base_sha256;
    if (md.parent_mask) meta.parentMask = md.parent_mask;
    if (md.seed !== undefined) meta.seed = Number(md.seed);
    return { meta, logits, candidates };
  } finally {
    await r.close();
  }
}
