// Calibration and evaluation datasets → documents: builtin sets from config.sharedDir, uploaded files (DataFile
// rows, from storage), https URLs (through the SSRF guard) and Hub datasets (hf-dataset.ts), in any format
// checkpoint/dataset-formats.ts reads. Downloads count against MAX_DOWNLOAD_BYTES; tokenizing happens in the pipeline.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { InvalidJobError } from "../contract/errors.js";
import { BUILTIN_DATASETS, builtinDataset, builtinRef, datasetLabel, parseDatasetRef, type BuiltinDataset, type DatasetInput } from "../contract/datasets.js";
import { datasetDocuments, type DocumentOptions } from "../checkpoint/dataset-formats.js";
import type { ChatRenderer } from "../checkpoint/chat-template.js";
import { BlobNotFoundError } from "../storage/index.js";
import { ByteBudget, writeStream } from "./files.js";
import { fetchHfDataset } from "./hf-dataset.js";
import { guardedGet } from "./source/http.js";
import type { JobIoContext } from "./job-io-context.js";

export interface LoadedDataset {
  docs: string[];
  /** the format it was read as (auto resolved), for messages */
  format: string;
  /** how reports name it */
  label: string;
}

export async function loadDataset(input: DatasetInput, ctx: JobIoContext, chat?: ChatRenderer): Promise<LoadedDataset> {
  const label = datasetLabel(input.dataset);
  const opts: DocumentOptions = { name: `dataset ${label}`, field: input.field, chat, maxChars: ctx.config.limits.downloadBytes };
  const budget = new ByteBudget(ctx.config.limits.downloadBytes, `dataset ${label}`);
  const src = input.dataset;
  if (typeof src !== "string") {
    const dir = join(ctx.dir, `hf-dataset-${Math.random().toString(36).slice(2)}`);
    try {
      const files = await fetchHfDataset(src.hf_dataset, { ...ctx, dir }, budget);
      const docs: string[] = [];
      const formats = new Set<string>();
      let chars = 0;
      for (const f of files) {
        const r = await datasetDocuments({ path: f.local }, input.format, { ...opts, name: `${opts.name} file ${f.path}`, fileName: f.path, maxChars: opts.maxChars! - chars });
        for (const doc of r.docs) chars += doc.length;
        docs.push(...r.docs);
        formats.add(r.format);
      }
      return { docs, format: [...formats].join("+"), label };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const d = parseDatasetRef(src);
  if (d.kind === "builtin") {
    const b = builtinDataset(src);
    if (!b) throw new InvalidJobError("dataset_invalid", `unknown builtin dataset ${src}; use one of ${(Object.keys(BUILTIN_DATASETS) as BuiltinDataset[]).map(builtinRef).join(", ")}`);
    const path = join(ctx.config.sharedDir, b.file);
    try {
      const r = await datasetDocuments({ path }, input.format === "auto" ? b.format : input.format, opts);
      return { ...r, label };
    } catch (err) {
      // our deployment lacks the shared data: not the user's fault
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`builtin dataset ${src} is missing from SHARED_DIR (${ctx.config.sharedDir}): ${(err as Error).message}`);
      throw err;
    }
  }
  const path = join(ctx.dir, `dataset-${Math.random().toString(36).slice(2)}`);
  try {
    let fileName: string;
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
      fileName = row.name;
    } else {
      const res = await guardedGet(d.url, { allowPrivate: ctx.config.allowPrivateSources, signal: ctx.signal, what: "dataset URL" });
      await writeStream(res.body, path, budget, ctx.signal);
      fileName = new URL(res.url).pathname;
    }
    const r = await datasetDocuments({ path }, input.format, { ...opts, fileName });
    return { ...r, label };
  } finally {
    await rm(path, { force: true });
  }
}
