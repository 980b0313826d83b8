// Which files of a Hugging Face model folder the fetchers take: config.json, the tokenizer's side files and the
// safetensors weights (one file, or an index and the shards it names). Shared by the https, Hub and S3 fetchers.
import { readFile } from "node:fs/promises";
import { InvalidJobError } from "../../contract/errors.js";
import { TOKENIZER_FILES } from "../../checkpoint/export.js";
import { safeRelativeName } from "../files.js";

/** Files of a model folder besides the weights; all optional except config.json. */
export const MODEL_SIDE_FILES = ["config.json", ...TOKENIZER_FILES];

/** The shard names an index lists, checked to be plain file names. */
export async function shardsOf(indexPath: string): Promise<string[]> {
  let map: unknown;
  try {
    map = (JSON.parse(await readFile(indexPath, "utf8")) as { weight_map?: unknown }).weight_map;
  } catch {
    throw new InvalidJobError("checkpoint_invalid", "model.safetensors.index.json is not valid JSON");
  }
  if (typeof map !== "object" || map === null) throw new InvalidJobError("checkpoint_invalid", "model.safetensors.index.json has no weight_map");
  const names = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const n of names)
    if (typeof n !== "string" || !n.endsWith(".safetensors") || safeRelativeName(n) !== n || n.includes("/"))
      throw new InvalidJobError("checkpoint_invalid", `model.safetensors.index.json names a bad shard ${JSON.stringify(n)}`);
  return names as string[];
}
