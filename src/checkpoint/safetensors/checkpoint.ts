// A HF checkpoint folder's weights: model.safetensors, or shards listed by model.safetensors.index.json.
// Shards are opened on first use, so reading a tensor touches only the file that holds it.
import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { CheckpointError } from "../errors.js";
import type { Dtype } from "./dtypes.js";
import type { TensorEntry } from "./header.js";
import { SafetensorsReader } from "./reader.js";
import { INDEX_FILE, SINGLE_FILE } from "./writer.js";

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}

export class CheckpointReader {
  private readonly open = new Map<string, Promise<SafetensorsReader>>();

  private constructor(
    private readonly dir: string,
    /** tensor name → shard file name */
    private readonly weightMap: Map<string, string>,
  ) {}

  static async open(dir: string): Promise<CheckpointReader> {
    const indexPath = join(dir, INDEX_FILE);
    if (await exists(indexPath)) {
      let index: unknown;
      try {
        index = JSON.parse(await readFile(indexPath, "utf8"));
      } catch (err) {
        throw new CheckpointError("BAD_INDEX", `not valid JSON (${(err as Error).message})`, undefined, indexPath);
      }
      const wm = (index as { weight_map?: unknown })?.weight_map;
      if (typeof wm !== "object" || wm === null || Array.isArray(wm)) throw new CheckpointError("BAD_INDEX", "has no weight_map object", undefined, indexPath);
      const map = new Map<string, string>();
      for (const [name, file] of Object.entries(wm)) {
        // shard names must stay inside the folder
        if (typeof file !== "string" || file !== basename(file) || file === "." || file === ".." || !file.endsWith(".safetensors"))
          throw new CheckpointError("BAD_INDEX", `weight_map points at ${JSON.stringify(file)}, not a .safetensors file in the same folder`, name, indexPath);
        map.set(name, file);
      }
      const r = new CheckpointReader(dir, map);
      // every listed tensor must really be in its shard (a stale index is a common corruption)
      try {
        for (const file of new Set(map.values())) {
          const shard = await r.shard(file);
          for (const [name, f] of map)
            if (f === file && !shard.has(name)) throw new CheckpointError("BAD_INDEX", `the index puts it in ${file}, which does not hold it`, name, indexPath);
        }
      } catch (err) {
        await r.close();
        throw err;
      }
      return r;
    }
    const single = join(dir, SINGLE_FILE);
    if (!(await exists(single)))
      throw new CheckpointError("NO_WEIGHTS", `no ${SINGLE_FILE} or ${INDEX_FILE} in the folder (only safetensors checkpoints are read)`, undefined, dir);
    const reader = await SafetensorsReader.open(single);
    const r = new CheckpointReader(dir, new Map(reader.tensors.map((t) => [t.name, SINGLE_FILE])));
    r.open.set(SINGLE_FILE, Promise.resolve(reader));
    return r;
  }

  private shard(file: string): Promise<SafetensorsReader> {
    let p = this.open.get(file);
    if (!p) {
      p = SafetensorsReader.open(join(this.dir, file));
      this.open.set(file, p);
    }
    return p;
  }

  get names(): string[] {
    return [...this.weightMap.keys()];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  async entry(name: string): Promise<TensorEntry> {
    return (await this.shardOf(name)).entry(name);
  }

  private shardOf(name: string): Promise<SafetensorsReader> {
    const file = this.weightMap.get(name);
    if (!file) throw new CheckpointError("TENSOR_NOT_FOUND", "not in the checkpoint", name, this.dir);
    return this.shard(file);
  }

  /** See SafetensorsReader.readFloat32 (scratch: a reusable buffer for loaders that copy each tensor away). */
  async readFloat32(name: string, scratch?: Uint8Array): Promise<{ shape: number[]; values: Float32Array; dtype: Dtype }> {
    return (await this.shardOf(name)).readFloat32(name, scratch);
  }

  async readBytes(name: string, scratch?: Uint8Array): Promise<{ dtype: Dtype; shape: number[]; bytes: Uint8Array }> {
    return (await this.shardOf(name)).readBytes(name, scratch);
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.open.values());
    await Promise.all(all.map((r) => (r.status === "fulfilled" ? r.value.close() : undefined)));
    this.open.clear();
  }
}
