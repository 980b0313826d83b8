// What a model loader sees of an exported folder, after the rules of vLLM's and transformers' safetensors loaders
// (read here from the files' raw headers, not through our reader): with model.safetensors.index.json, exactly the
// files its weight_map names; without it, every top-level *.safetensors. checkLoadable asserts that this finds
// exactly the model's tensors, that every safetensors file anywhere in the folder says __metadata__.format "pt"
// (transformers 4.32-4.46 refuse one that does not), that config.json's torch_dtype is the weights' stored dtype,
// that a source's tokenizer.model came along, and that no file names a path of this machine.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";

const TORCH_DTYPES: Record<string, string> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

interface RawTensor {
  dtype: string;
  shape: number[];
}

interface RawHeader {
  metadata?: Record<string, string>;
  tensors: Map<string, RawTensor>;
}

/** The raw header of a safetensors file's bytes: its __metadata__ and its tensors. */
export function parseRawHeader(bytes: Uint8Array): RawHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(buf.readBigUInt64LE(0));
  const json = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  const { __metadata__: metadata, ...rest } = json;
  return { metadata: metadata as Record<string, string> | undefined, tensors: new Map(Object.entries(rest as Record<string, RawTensor>)) };
}

export async function rawHeader(path: string): Promise<RawHeader> {
  return parseRawHeader(await readFile(path));
}

/** Every file under `dir`, as paths relative to it. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

/** The tensors a loader reads from `dir` (name → dtype), failing on a name found twice or a file the index names but lacks. */
export async function loaderTensors(dir: string): Promise<Map<string, RawTensor>> {
  const top = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  const out = new Map<string, RawTensor>();
  if (top.includes("model.safetensors.index.json")) {
    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    const files = [...new Set(Object.values(index.weight_map))];
    for (const f of files) assert.ok(top.includes(f), `the index names ${f}, which is not in the folder`);
    for (const f of files)
      for (const [name, t] of (await rawHeader(join(dir, f))).tensors) {
        assert.equal(index.weight_map[name], f, `${f} holds ${name}, which the index puts in ${index.weight_map[name]}`);
        out.set(name, t);
      }
    assert.deepEqual([...out.keys()].sort(), Object.keys(index.weight_map).sort(), "the index's names are the shards' names");
    return out;
  }
  for (const f of top.filter((x) => x.endsWith(".safetensors")))
    for (const [name, t] of (await rawHeader(join(dir, f))).tensors) {
      assert.ok(!out.has(name), `${name} is in two top-level safetensors files`);
      out.set(name, t);
    }
  return out;
}

export interface LoadableExpect {
  /** the model's tensor names: a loader must find exactly these */
  names: readonly string[];
  /** the source folder: its tokenizer.model, when it has one, must be in the export byte for byte */
  srcDir: string;
  /** more paths of this machine no file may contain (the test's temp folders) */
  machinePaths?: readonly string[];
}

export async function checkLoadable(dir: string, expect: LoadableExpect): Promise<void> {
  const tensors = await loaderTensors(dir);
  assert.deepEqual([...tensors.keys()].sort(), [...expect.names].sort(), `${dir}: a loader finds exactly the model's tensors`);
  const files = await filesUnder(dir);
  for (const f of files.filter((x) => x.endsWith(".safetensors")))
    assert.equal((await rawHeader(join(dir, f))).metadata?.format, "pt", `${f}: __metadata__.format must be "pt"`);
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { torch_dtype?: string };
  const stored = new Set([...tensors.values()].map((t) => t.dtype));
  assert.deepEqual([...stored], [TORCH_DTYPES[config.torch_dtype ?? ""]], `config.json says torch_dtype ${config.torch_dtype}, the weights are ${[...stored].join(", ")}`);
  const srcTok = await readFile(join(expect.srcDir, "tokenizer.model")).catch(() => undefined);
  if (srcTok) assert.deepEqual(await readFile(join(dir, "tokenizer.model")).catch(() => undefined), srcTok, "tokenizer.model copied from the source");
  const paths = [...(expect.machinePaths ?? []), expect.srcDir, homedir(), process.cwd()].filter((p) => p.length > 1);
  for (const f of files) {
    const text = (await readFile(join(dir, f))).toString("latin1");
    for (const p of paths) assert.ok(!text.includes(p), `${f} contains ${p}, a path of this machine`);
  }
}
