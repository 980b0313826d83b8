// The builtin datasets a job may name as `builtin:<name>`: one table for the job spec's schema, messages and
// defaults, the worker that reads them from SHARED_DIR and the CLI's help. A new builtin is one more row.
// Also how any dataset reference of a spec (builtin:, file:, https, {hf_dataset}) is read, and the formats a
// dataset may be in (checkpoint/dataset-formats.ts reads them).

/** Formats of plain text: text (documents separated by blank lines), stories (<|endoftext|> or NUL), wikitext (one document). */
export const TEXT_FORMATS = ["text", "stories", "wikitext"] as const;
export type TextFormatName = (typeof TEXT_FORMATS)[number];
/** Every format a dataset may be in: the text formats, JSON Lines and Parquet (HF datasets' shards). */
export const DATASET_FORMATS = [...TEXT_FORMATS, "jsonl", "parquet"] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];
/** What a spec or the CLI may name: a format, or auto (inferred where unambiguous: datasetFormatOf). */
export const FORMAT_CHOICES = ["auto", ...DATASET_FORMATS] as const;
export type FormatChoice = (typeof FORMAT_CHOICES)[number];

export const FORMAT_HELP =
  "text: documents separated by blank lines; stories: separated by <|endoftext|> or NUL; wikitext: the whole file is one document; " +
  "jsonl: one JSON object per line with a string `text` or a chat `messages` array (rendered with the checkpoint's chat_template); " +
  "parquet: a `text` column or a `messages` list<struct<role, content>> column; " +
  "auto: parquet for Parquet bytes or a .parquet name, jsonl for a .jsonl name, else stories when the text has <|endoftext|>/NUL separators and wikitext when not";

/** A Hugging Face dataset repo read through HF_ENDPOINT: chosen files, or a split's files by the Hub's naming convention. */
export interface HfDatasetRef {
  repo: string;
  revision?: string;
  /** paths or globs (* within a path segment, ** across them) of the repo's files */
  files?: string[];
  /** picks files by name (train-00000-of-00001.parquet, data/train/…) when files is absent; default train */
  split?: string;
  token?: string;
}
/** Where a dataset comes from: a reference string (builtin:, file:, https) or a Hub dataset. */
export type DatasetSource = string | { hf_dataset: HfDatasetRef };
/** One dataset of a spec with how to read it: what the worker and the CLI load. */
export interface DatasetInput {
  dataset: DatasetSource;
  format: FormatChoice;
  /** the JSONL key or Parquet column: default `text`, else `messages` */
  field?: string;
}

/** An eval.datasets item in its one form (a bare reference string reads its format from the data). */
export function datasetInput(item: DatasetSource | { dataset: DatasetSource; format?: FormatChoice; field?: string }): DatasetInput {
  if (typeof item === "string") return { dataset: item, format: builtinDataset(item)?.format ?? "auto" };
  if ("hf_dataset" in item) return { dataset: item, format: "auto" };
  return { dataset: item.dataset, format: item.format ?? (typeof item.dataset === "string" ? builtinDataset(item.dataset)?.format : undefined) ?? "auto", ...(item.field ? { field: item.field } : {}) };
}

/** How a dataset is named in reports, metrics and errors (never the token). */
export function datasetLabel(source: DatasetSource): string {
  if (typeof source === "string") return source;
  const h = source.hf_dataset;
  const which = h.files ? h.files.join(",") : `split ${h.split ?? "train"}`;
  return `hf_dataset:${h.repo}@${h.revision ?? "main"} (${which})`;
}

interface Builtin {
  /** under SHARED_DIR */
  file: string;
  format: TextFormatName;
  /** what a job may use it for */
  calibration: boolean;
  eval: boolean;
  /** shown in the spec's description */
  about?: string;
}

const TABLE = {
  tinystories: { file: "data/tinystories/train-sample-2MiB.txt", format: "stories", calibration: true, eval: false, about: "2 MiB TinyStories train sample" },
  "tinystories-heldout": { file: "data/tinystories/heldout-data00-667.txt", format: "stories", calibration: false, eval: true },
  // the Wikitext-2 *test* split: the spec refuses it as both the calibration text and an eval set
  wikitext: { file: "data/wikitext-2-raw/wiki.test.raw", format: "wikitext", calibration: true, eval: true, about: "the Wikitext-2 test split" },
} as const satisfies Record<string, Builtin>;
export type BuiltinDataset = keyof typeof TABLE;
export const BUILTIN_DATASETS: Readonly<Record<BuiltinDataset, Readonly<Builtin>>> = TABLE;

const names = Object.keys(BUILTIN_DATASETS) as BuiltinDataset[];
/** `builtin:<name>`, for a name the table has */
export const builtinRef = (name: BuiltinDataset) => `builtin:${name}`;
export const CALIBRATION_BUILTINS = names.filter((n) => BUILTIN_DATASETS[n].calibration);
export const EVAL_BUILTINS = names.filter((n) => BUILTIN_DATASETS[n].eval);

/** The table's row for a dataset reference, if it names a builtin. */
export function builtinDataset(ref: string): Readonly<Builtin> | undefined {
  const name = ref.startsWith("builtin:") ? ref.slice("builtin:".length) : undefined;
  return name !== undefined && Object.prototype.hasOwnProperty.call(BUILTIN_DATASETS, name) ? BUILTIN_DATASETS[name as BuiltinDataset] : undefined;
}

export type DatasetRef = { kind: "builtin"; name: string } | { kind: "file"; id: string } | { kind: "url"; url: string };

/** Splits a dataset reference of calibration.dataset or eval.datasets. */
export function parseDatasetRef(ref: string): DatasetRef {
  if (ref.startsWith("builtin:")) return { kind: "builtin", name: ref.slice("builtin:".length) };
  if (ref.startsWith("file:")) return { kind: "file", id: ref.slice("file:".length).toLowerCase() };
  return { kind: "url", url: ref };
}
