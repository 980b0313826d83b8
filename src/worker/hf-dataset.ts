// A dataset of the Hugging Face Hub ({hf_dataset: {repo, revision, files, split}}): which of the repo's files
// it means, and their download into the job's folder. `files` are paths or globs; without them `split` picks
// the data files the way HF datasets names splits (train-00000-of-00001.parquet, data/train.jsonl,
// train/part-0.parquet…), and the split defaults to train.
import { join } from "node:path";
import { InvalidJobError } from "../contract/errors.js";
import type { HfDatasetRef } from "../contract/datasets.js";
import type { ByteBudget } from "./files.js";
import { safeRelativeName, writeStream } from "./files.js";
import { guardedGet, type GuardedGetOptions } from "./source/http.js";
import { hubFiles, hubFileUrl, hubHttp, type HubRepo } from "./source/hub.js";
import type { JobIoContext } from "./job-io-context.js";

const DATA_FILE = /\.(parquet|jsonl|ndjson|txt)$/i;
const escape = (s: string) => s.replace(/[.+^${}()|[\]\\]/g, "\\$&");

/** A path glob: ** spans folders, * and ? stay within one path segment. */
export function globRegExp(glob: string): RegExp {
  const body = glob.split("**").map((part) => part.split("*").map((p) => p.split("?").map(escape).join("[^/]")).join("[^/]*")).join(".*");
  return new RegExp(`^${body}$`);
}

/** Data files of a split by HF's convention: a folder named after it, or a file name with it as a word. */
export function splitFiles(paths: readonly string[], split: string): string[] {
  const word = new RegExp(`(^|[-._ 0-9])${escape(split)}([-._ 0-9]|$)`);
  return paths.filter((p) => {
    if (!DATA_FILE.test(p)) return false;
    const segments = p.split("/");
    const file = segments.pop()!;
    return segments.includes(split) || word.test(file.replace(DATA_FILE, ""));
  });
}

/** The repo files the reference names, sorted; an error says which pattern matched nothing. */
export function selectHfFiles(paths: readonly string[], ref: HfDatasetRef): string[] {
  const label = `${ref.repo}@${ref.revision ?? "main"}`;
  if (ref.files) {
    const chosen = new Set<string>();
    for (const f of ref.files) {
      const re = globRegExp(f);
      const hits = paths.filter((p) => re.test(p));
      if (hits.length === 0) throw new InvalidJobError("dataset_invalid", `hf_dataset ${label}: files entry ${JSON.stringify(f)} matches none of the repo's files`);
      for (const h of hits) chosen.add(h);
    }
    return [...chosen].sort();
  }
  const split = ref.split ?? "train";
  const hits = splitFiles(paths, split).sort();
  if (hits.length === 0)
    throw new InvalidJobError("dataset_invalid", `hf_dataset ${label}: no .parquet, .jsonl or .txt file of split ${JSON.stringify(split)} (name the files with \`files\`); data files: ${paths.filter((p) => DATA_FILE.test(p)).slice(0, 20).join(", ") || "none"}`);
  return hits;
}

/** Downloads the dataset's files into ctx.dir (one byte budget for all); returns their repo paths and local paths. */
export async function fetchHfDataset(ref: HfDatasetRef, ctx: JobIoContext, budget: ByteBudget): Promise<{ path: string; local: string }[]> {
  const r: HubRepo = { kind: "datasets", repo: ref.repo, revision: ref.revision ?? "main", token: ref.token };
  const http: GuardedGetOptions = { allowPrivate: ctx.config.allowPrivateSources, signal: ctx.signal, what: "dataset" };
  const files = selectHfFiles(await hubFiles(ctx.config, r, http), ref);
  const out: { path: string; local: string }[] = [];
  for (const path of files) {
    const safe = safeRelativeName(path);
    if (!safe) throw new InvalidJobError("dataset_invalid", `hf_dataset ${ref.repo}: unusable file name ${JSON.stringify(path)}`);
    const res = await guardedGet(hubFileUrl(ctx.config, r, path), hubHttp(ctx.config, http, ref.token));
    const local = join(ctx.dir, "hf-dataset", safe);
    await writeStream(res.body, local, budget, ctx.signal);
    out.push({ path, local });
  }
  return out;
}
