// Calibration and evaluation text: builtin sets from config.sharedDir, uploaded files (DataFile rows, from
// storage) and https URLs (through the SSRF guard). Text only; tokenizing happens in the pipeline.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { InvalidJobError } from "../contract/errors.js";
import { BUILTIN_DATASETS, builtinDataset, builtinRef, type BuiltinDataset } from "../contract/datasets.js";
import { parseDatasetRef } from "../contract/datasets.js";
import type { TextFormat } from "../checkpoint/text-dataset.js";
import { BlobNotFoundError } from "../storage/index.js";
import { ByteBudget, writeStream } from "./files.js";
import { guardedGet } from "./source/http.js";
import type { JobIoContext } from "./job-io-context.js";


export interface LoadedText {
  text: string;
  /** the format the data suggests; the spec's calibration.format wins for calibration */
  format: TextFormat;
}

// eslint-disable-next-line no-control-regex -- NUL separates TinyStories documents
const SEPARATORS = /<\|endoftext\|>|\u0000/;

/** Text without document separators is one document, whatever its source. */
function guessFormat(text: string): TextFormat {
  return SEPARATORS.test(text) ? "stories" : "wikitext";
}

export async function loadText(ref: string, ctx: JobIoContext): Promise<LoadedText> {
  const d = parseDatasetRef(ref);
  if (d.kind === "builtin") {
    const b = builtinDataset(ref);
    if (!b) throw new InvalidJobError("dataset_invalid", `unknown builtin dataset ${ref}; use one of ${(Object.keys(BUILTIN_DATASETS) as BuiltinDataset[]).map(builtinRef).join(", ")}`);
    try {
      return { text: await readFile(join(ctx.config.sharedDir, b.file), "utf8"), format: b.format };
    } catch (err) {
      // our deployment lacks the shared data: not the user's fault
      throw new Error(`builtin dataset ${ref} is missing from SHARED_DIR (${ctx.config.sharedDir}): ${(err as Error).message}`);
    }
  }
  const budget = new ByteBudget(ctx.config.limits.downloadBytes, `dataset ${ref}`);
  const path = join(ctx.dir, `dataset-${Math.random().toString(36).slice(2)}.txt`);
  try {
    if (d.kind === "file") {
      const row = await ctx.prisma.dataFile.findUnique({ where: { id: d.id } });
      if (!row || (row.tenantId !== null && row.tenantId !== ctx.tenantId)) throw new InvalidJobError("dataset_invalid", `file ${d.id} does not exist; upload it first (POST /v1/files)`);
      let body;
      try {
        body = await ctx.store.get(row.storageKey);
      } catch (err) {
        if (err instanceof BlobNotFoundError) throw new InvalidJobError("dataset_invalid", `file ${d.id} is missing from storage; upload it again`);
        throw err;
      }
      await writeStream(body, path, budget, ctx.signal);
    } else {
      const res = await guardedGet(d.url, { allowPrivate: ctx.config.allowPrivateSources, signal: ctx.signal, what: "dataset URL" });
      await writeStream(res.body, path, budget, ctx.signal);
    }
    const bytes = await readFile(path);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new InvalidJobError("dataset_invalid", `dataset ${ref} is not UTF-8 text`);
    }
    return { text, format: guessFormat(text) };
  } finally {
    await rm(path, { force: true });
  }
}
