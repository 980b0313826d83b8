// The job spec's schema: the body of POST /v1/jobs, and, with every default filled in, what the worker runs. One
// TypeBox schema serves the OpenAPI document, the API's check and the worker's types. Unknown fields are
// rejected at every level (a misspelt `trainig` must not silently run the defaults). Defaults follow the
// MaskLLM paper (arXiv 2409.17481; docs/maskllm.md §0-§4) except where a CPU-sized run needs smaller numbers
// (batch_size, calibration.seq_len), which the examples in jobs/ override for the paper-scale recipe.
// The schema alone is not the check: parse.ts applies it with the rules it cannot state (cross-field.ts).
//
// Decisions:
// - `prior` and `training` belong to method "maskllm" only. A one-shot method (sparsegpt, wanda, magnitude)
//   computes its mask directly, so sending either with it is an error, not a silently ignored field.
// - A Hugging Face page URL given as `{url}` becomes the `{hf}` source (source.ts, normalizeSource), so the
//   worker sees one form per origin.
// - `eval.seq_len` defaults to `calibration.seq_len`; `calibration.format` defaults from the dataset: a builtin's
//   own format, else auto (Parquet bytes or a .parquet/.jsonl name decide; other text is stories when it has
//   separators, else one wikitext document). An eval dataset is a bare reference (auto) or {dataset, format, field},
//   so every spec written before these forms means what it meant.
import { Type, type Static, type TSchema } from "typebox";
import { Memory } from "typebox/system";
// the layer choice of the core that prunes (no TF.js there): its defaults are the spec's
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../maskllm/prune/select-layers.js";
import { BUILTIN_DATASETS, builtinRef, CALIBRATION_BUILTINS, EVAL_BUILTINS, FORMAT_CHOICES, FORMAT_HELP, type FormatChoice } from "../datasets.js";
import { DEFAULT_WEBHOOK_EVENTS, WebhookEventTypeSchema } from "../events.js";

// ---------------------------------------------------------------------------------------------------------
// Building blocks

const UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const Uuid = (description: string) => Type.String({ pattern: UUID, description });
const HttpsUrl = (description: string) => Type.String({ pattern: "^https://", maxLength: 2048, description });
const Glob = Type.String({ pattern: "^[A-Za-z0-9_.*?\\-]{1,200}$", description: "HF module-name glob matched against the whole name or a dot-separated suffix (q_proj, layers.0.*); * spans any characters, ? one (semantics: src/maskllm/prune/select-layers.ts)" });
const closed = { additionalProperties: false } as const;

/** A field with a default: optional in the request, always present in the resolved spec. */
function withDefault<T extends TSchema>(schema: T, dflt: unknown) {
  // Memory.Update keeps TypeBox's hidden kind marker, which a plain spread would drop (Value.Default needs it)
  return Type.Optional(Memory.Update(schema, {}, { default: dflt }) as T);
}

export const METHODS = ["maskllm", "sparsegpt", "wanda", "magnitude"] as const;
export type Method = (typeof METHODS)[number];
export const ONE_SHOT_METHODS = ["sparsegpt", "wanda", "magnitude"] as const;
export const PRIOR_METHODS = ["sparsegpt", "wanda", "magnitude", "none"] as const;
export const EXPORT_FORMATS = ["hf_safetensors", "maskllm_npz", "mask_logits"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];


// ---------------------------------------------------------------------------------------------------------
// Parts of the spec

const HF_REPO = "^([A-Za-z0-9][A-Za-z0-9_.\\-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.\\-]{0,95}$";
const HfRepo = Type.String({ pattern: HF_REPO, description: "Hub repo id, e.g. meta-llama/Llama-2-7b-hf" });
const HfRevision = Type.String({ pattern: "^[A-Za-z0-9_.][A-Za-z0-9_.\\-/]{0,254}$", description: "branch, tag or commit (default main)" });
const HfToken = Type.String({ minLength: 1, maxLength: 512, description: "Hub access token for gated or private repos; stored with the job, never shown again" });

const UrlSource = Type.Object(
  {
    url: Type.String({
      pattern: "^(https|s3)://",
      maxLength: 2048,
      description:
        "https URL of a .tar or .tar.gz of a Hugging Face model folder, or a base URL under which the folder's files are served by name; a Hub page URL (https://huggingface.co/<repo>[/tree/<revision>]) is read as the hf source; or s3://<bucket>/<key>.tar[.gz] / s3://<bucket>/<prefix>/ (a folder prefix), read with the worker's S3 settings",
    }),
  },
  closed,
);
const HfSource = Type.Object(
  {
    hf: Type.Object(
      {
        repo: HfRepo,
        // no schema default inside a union (ajv's strict mode rejects it): normalizeSource fills in "main"
        revision: Type.Optional(HfRevision),
        token: Type.Optional(HfToken),
      },
      closed,
    ),
  },
  closed,
);
const CheckpointSource = Type.Object({ checkpoint_id: Uuid("id of a checkpoint uploaded with POST /v1/checkpoints (status ready)") }, closed);

export const SourceSchema = Type.Union([UrlSource, HfSource, CheckpointSource], { description: "where the dense model comes from: exactly one of {url}, {hf}, {checkpoint_id}" });
export type JobSource = Static<typeof SourceSchema>;

export const PriorSchema = Type.Union(
  [
    Type.Enum(PRIOR_METHODS, { description: "one-shot mask used as the prior, or none" }),
    Type.Object({ mask_id: Uuid("a stored mask (transfer learning: the mask seeds the logits, docs/maskllm.md §6)") }, closed),
  ],
  { description: "initialisation of the mask logits (MaskLLM only)" },
);
export type Prior = Static<typeof PriorSchema>;

const Schedule = (what: string, start: number, end: number, max: number) =>
  withDefault(
    Type.Object(
      {
        start: withDefault(Type.Number({ exclusiveMinimum: 0, maximum: max, description: `${what} at step 0` }), start),
        end: withDefault(Type.Number({ exclusiveMinimum: 0, maximum: max, description: `${what} at the last step (linear in between)` }), end),
      },
      closed,
    ),
    {},
  );

export const TrainingSchema = Type.Object(
  {
    steps: withDefault(Type.Integer({ minimum: 1, maximum: 100_000, description: "optimiser steps (paper: 2000)" }), 2000),
    batch_size: withDefault(Type.Integer({ minimum: 1, maximum: 1024, description: "sequences per step (paper: 256)" }), 8),
    micro_batches: withDefault(
      Type.Integer({
        minimum: 1,
        maximum: 64,
        description:
          "parts each step's batch is cut into, their gradients summed in order: a step holds one part's activations at a time. The mask depends on it, not on the worker's thread count (TRAIN_THREADS split every op of a part)",
      }),
      2,
    ),
    lr: withDefault(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: "AdamW learning rate of the logits" }), 5e-4),
    lr_min: withDefault(Type.Number({ minimum: 0, maximum: 1, description: "end of the cosine decay" }), 5e-5),
    tau: Schedule("Gumbel-softmax temperature", 4, 0.05, 100),
    kappa: Schedule("logit scale", 100, 500, 1e6),
    prior_strength: withDefault(Type.Number({ minimum: 0, maximum: 100, description: "alpha: how far the prior shifts the logits" }), 3),
    reg_lambda: withDefault(Type.Number({ minimum: 0, maximum: 1, description: "weight of the sparse-weight regulariser, decayed to 0" }), 1e-5),
    weight_decay: withDefault(Type.Number({ minimum: 0, maximum: 1 }), 0.1),
    grad_clip: withDefault(Type.Number({ minimum: 0, maximum: 1000, description: "global gradient-norm clip; 0 turns it off" }), 1.0),
    hard: withDefault(Type.Boolean({ description: "straight-through hard masks in the forward pass (paper default: soft)" }), false),
    seed: withDefault(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }), 0),
    snapshot_every: withDefault(Type.Integer({ minimum: 0, maximum: 100_000, description: "store the logits every this many steps; 0 turns snapshots off" }), 100),
  },
  { ...closed, description: "MaskLLM training (method maskllm only)" },
);
export type Training = Static<typeof TrainingSchema>;

/** A dataset repo of the Hub, read through HF_ENDPOINT (contract/datasets.ts HfDatasetRef). */
export const HfDatasetSchema = Type.Object(
  {
    hf_dataset: Type.Object(
      {
        repo: Type.String({ pattern: HF_REPO, description: "Hub dataset repo id, e.g. roneneldan/TinyStories" }),
        revision: Type.Optional(HfRevision),
        files: Type.Optional(
          Type.Array(Type.String({ pattern: "^[A-Za-z0-9_.*?\\-][A-Za-z0-9_.*?\\-/ =]{0,299}$" }), {
            minItems: 1, maxItems: 256, uniqueItems: true,
            description: "paths or globs of the repo's files (** spans folders, * and ? stay in one), e.g. data/train-00000-of-00001.parquet or data/*.jsonl",
          }),
        ),
        split: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_.\\-]{1,64}$", description: "when files is absent: the split's .parquet/.jsonl/.txt files by HF's naming (train-00000-of-00001.parquet, train/…); default train" })),
        token: Type.Optional(HfToken),
      },
      closed,
    ),
  },
  { ...closed, description: "a Hugging Face Hub dataset" },
);

const refPattern = (builtins: readonly string[], https: boolean) => `^(builtin:(${builtins.join("|")})|file:${UUID.slice(1, -1)}${https ? "|https://.+" : ""})$`;
const refAbout = (builtins: readonly string[]) => [...builtins.map((n) => `${builtinRef(n as keyof typeof BUILTIN_DATASETS)}${BUILTIN_DATASETS[n as keyof typeof BUILTIN_DATASETS].about ? ` (${BUILTIN_DATASETS[n as keyof typeof BUILTIN_DATASETS].about})` : ""}`), "file:<uuid> (POST /v1/files)", "https URL of a dataset file", "{hf_dataset}"].join(" | ");
const CalibrationRef = Type.String({ pattern: refPattern(CALIBRATION_BUILTINS, true), maxLength: 2048 });
const EvalRef = Type.String({ pattern: refPattern(EVAL_BUILTINS, true), maxLength: 2048 });
const Format = Type.Enum(FORMAT_CHOICES, { description: `how the dataset is read. ${FORMAT_HELP}` });
const Field = Type.String({ pattern: "^[A-Za-z0-9_.\\-]{1,64}$", description: "the JSONL key or Parquet column to read (default text, else messages)" });

const CalibrationSchema = Type.Object(
  {
    dataset: withDefault(Type.Union([CalibrationRef, HfDatasetSchema], { description: refAbout(CALIBRATION_BUILTINS) }), builtinRef("tinystories")),
    format: Type.Optional(Type.Enum(FORMAT_CHOICES, { description: `how the dataset is read; default: a builtin's own format, else auto. ${FORMAT_HELP}` })),
    field: Type.Optional(Field),
    samples: withDefault(Type.Integer({ minimum: 1, maximum: 100_000, description: "calibration sequences for one-shot masks and priors" }), 128),
    seq_len: withDefault(Type.Integer({ minimum: 8, maximum: 32_768, description: "tokens per calibration and training sequence" }), 256),
  },
  { ...closed, description: "text for one-shot calibration and for MaskLLM training batches" },
);

const EvalDataset = Type.Union(
  [
    EvalRef,
    HfDatasetSchema,
    Type.Object({ dataset: Type.Union([EvalRef, HfDatasetSchema]), format: Type.Optional(Format), field: Type.Optional(Field) }, { ...closed, description: "a dataset with how to read it" }),
  ],
  { description: `${refAbout(EVAL_BUILTINS)}, or {dataset, format, field}; a bare reference is read as auto` },
);
export type EvalDatasetItem = Static<typeof EvalDataset>;

const EvalSchema = Type.Object(
  {
    datasets: withDefault(Type.Array(EvalDataset, { maxItems: 8, uniqueItems: true, description: "perplexity datasets; [] skips evaluation" }), [builtinRef("tinystories-heldout")]),
    seq_len: Type.Optional(Type.Integer({ minimum: 8, maximum: 32_768, description: "window length (non-overlapping); defaults to calibration.seq_len" })),
  },
  closed,
);

const ExportSchema = Type.Object(
  {
    formats: withDefault(Type.Array(Type.Enum(EXPORT_FORMATS), { minItems: 1, uniqueItems: true, description: "hf_safetensors: pruned model; maskllm_npz: bit-packed masks (MaskLLM's mask_compressed.npz); mask_logits: learned logits (safetensors)" }), [...EXPORT_FORMATS]),
  },
  closed,
);

const WebhookSchema = Type.Object(
  {
    url: HttpsUrl("receives a POST per event"),
    events: withDefault(Type.Array(WebhookEventTypeSchema, { minItems: 1, uniqueItems: true }), DEFAULT_WEBHOOK_EVENTS),
  },
  closed,
);

const MetadataSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    tags: withDefault(Type.Array(Type.String({ pattern: "^[A-Za-z0-9_.:/\\-]{1,64}$" }), { maxItems: 32, uniqueItems: true }), []),
  },
  closed,
);

/** The request body of POST /v1/jobs. Use parseJobSpec, not this schema alone: it also applies the cross-field rules. */
export const JobSpecSchema = Type.Object(
  {
    source: SourceSchema,
    method: withDefault(Type.Enum(METHODS, { description: "maskllm learns the mask; the others are one-shot baselines" }), "maskllm"),
    pattern: withDefault(Type.String({ pattern: "^([1-9]|1[0-5]):([2-9]|1[0-6])$", description: "N:M, keep N of every M consecutive input weights, 1 <= N < M <= 16" }), "2:4"),
    prior: withDefault(PriorSchema, "sparsegpt"),
    targets: withDefault(Type.Array(Glob, { minItems: 1, maxItems: 256 }), DEFAULT_TARGETS),
    ignore: withDefault(Type.Array(Glob, { maxItems: 256 }), DEFAULT_IGNORE),
    calibration: withDefault(CalibrationSchema, {}),
    training: withDefault(TrainingSchema, {}),
    eval: withDefault(EvalSchema, {}),
    export: withDefault(ExportSchema, {}),
    webhook: Type.Optional(WebhookSchema),
    metadata: withDefault(MetadataSchema, {}),
  },
  { ...closed, description: "a pruning job" },
);
export type JobSpecInput = Static<typeof JobSpecSchema>;

// ---------------------------------------------------------------------------------------------------------
// The resolved spec: what parseJobSpec (parse.ts) returns, what the Job row stores and what the worker runs.

type KeepOptional = "token" | "webhook" | "name" | "prior" | "training" | "files" | "split" | "field" | "format" | "revision";
type Filled<T> = T extends readonly (infer U)[]
  ? Filled<U>[]
  : T extends object
    ? { [K in keyof T as K extends KeepOptional ? never : K]-?: Filled<T[K]> } & { [K in keyof T as K extends KeepOptional ? K : never]?: Filled<T[K]> }
    : T;

type Resolved = Filled<JobSpecInput>;
type Base = Omit<Resolved, "method" | "prior" | "training" | "eval" | "calibration"> & {
  calibration: Resolved["calibration"] & { format: FormatChoice };
  eval: Resolved["eval"] & { seq_len: number };
};
export type MaskllmJobSpec = Base & { method: "maskllm"; prior: Prior; training: Filled<Training> };
export type OneShotJobSpec = Base & { method: (typeof ONE_SHOT_METHODS)[number]; prior?: undefined; training?: undefined };
export type JobSpec = MaskllmJobSpec | OneShotJobSpec;
