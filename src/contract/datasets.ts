// The builtin datasets a job may name as `builtin:<name>`: one table for the job spec's schema, messages and
// defaults, the worker that reads them from SHARED_DIR and the CLI's help. A new builtin is one more row.
// Also how any dataset reference of a spec (builtin:, file:, https) is read.

export const TEXT_FORMATS = ["stories", "wikitext"] as const;
export type TextFormatName = (typeof TEXT_FORMATS)[number];

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
