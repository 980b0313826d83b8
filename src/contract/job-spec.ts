// The job spec: the body of POST /v1/jobs, and, with every default filled in, what the worker runs. One
// TypeBox schema serves the OpenAPI document, the API's check and the worker's types. Unknown fields are
// rejected at every level (a misspelt `trainig` must not silently run the defaults). Defaults follow the
// MaskLLM paper (arXiv 2409.17481; docs/maskllm.md §0-§4) except where a CPU-sized run needs smaller numbers
// (batch_size, calibration.seq_len), which the examples in jobs/ override for the paper-scale recipe.
//
// Decisions:
// - `prior` and `training` belong to method "maskllm" only. A one-shot method (sparsegpt, wanda, magnitude)
//   computes its mask directly, so sending either with it is an error, not a silently ignored field.
// - A Hugging Face page URL given as `{url}` becomes the `{hf}` source (normalizeSource), so the worker sees
//   one form per origin.
// - `eval.seq_len` defaults to `calibration.seq_len`; `calibration.format` defaults from the dataset.
import { Type, type Static, type TSchema } from "typebox";
import { Memory } from "typebox/system";
import { Value } from "typebox/value";
import type { Config } from "../config.js";
import { literalPrivateHostReason } from "./addresses.js";
import { parsePattern } from "../maskllm/mask/nm.js";
// the layer choice of the core that prunes (no TF.js there): its defaults are the spec's
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../maskllm/prune/select-layers.js";
import { BUILTIN_DATASETS, builtinDataset, builtinRef, CALIBRATION_BUILTINS, EVAL_BUILTINS, TEXT_FORMATS } from "./datasets.js";
import { InvalidJobError } from "./errors.js";
import { DEFAULT_WEBHOOK_EVENTS, WebhookEventTypeSchema } from "./events.js";

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
        repo: Type.String({ pattern: "^([A-Za-z0-9][A-Za-z0-9_.\\-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9_.\\-]{0,95}$", description: "Hub repo id, e.g. meta-llama/Llama-2-7b-hf" }),
        // no schema default inside a union (ajv's strict mode rejects it): normalizeSource fills in "main"
        revision: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_.][A-Za-z0-9_.\\-/]{0,254}$", description: "branch, tag or commit (default main)" })),
        token: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: "Hub access token for gated or private repos; stored with the job, never shown again" })),
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

const CalibrationSchema = Type.Object(
  {
    dataset: withDefault(
      Type.String({
        pattern: `^(builtin:(${CALIBRATION_BUILTINS.join("|")})|file:${UUID.slice(1, -1)}|https://.+)$`,
        maxLength: 2048,
        description: [...CALIBRATION_BUILTINS.map((n) => `${builtinRef(n)} (${BUILTIN_DATASETS[n].about})`), "file:<uuid> (POST /v1/files)", "https URL of a text file"].join(" | "),
      }),
      builtinRef("tinystories"),
    ),
    format: Type.Optional(Type.Enum(TEXT_FORMATS, { description: "stories: documents separated by <|endoftext|> or NUL; wikitext: one raw text. Defaults from the dataset (stories unless wikitext)" })),
    samples: withDefault(Type.Integer({ minimum: 1, maximum: 100_000, description: "calibration sequences for one-shot masks and priors" }), 128),
    seq_len: withDefault(Type.Integer({ minimum: 8, maximum: 32_768, description: "tokens per calibration and training sequence" }), 256),
  },
  { ...closed, description: "text for one-shot calibration and for MaskLLM training batches" },
);

const EvalSchema = Type.Object(
  {
    datasets: withDefault(
      Type.Array(Type.String({ pattern: `^(builtin:(${EVAL_BUILTINS.join("|")})|file:${UUID.slice(1, -1)})$` }), { maxItems: 8, uniqueItems: true, description: "perplexity datasets; [] skips evaluation" }),
      [builtinRef("tinystories-heldout")],
    ),
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
// The resolved spec: what parseJobSpec returns, what the Job row stores and what the worker runs.

type KeepOptional = "token" | "webhook" | "name" | "prior" | "training";
type Filled<T> = T extends readonly (infer U)[]
  ? Filled<U>[]
  : T extends object
    ? { [K in keyof T as K extends KeepOptional ? never : K]-?: Filled<T[K]> } & { [K in keyof T as K extends KeepOptional ? K : never]?: Filled<T[K]> }
    : T;

type Resolved = Filled<JobSpecInput>;
type Base = Omit<Resolved, "method" | "prior" | "training" | "eval" | "calibration"> & {
  calibration: Resolved["calibration"] & { format: (typeof TEXT_FORMATS)[number] };
  eval: Resolved["eval"] & { seq_len: number };
};
export type MaskllmJobSpec = Base & { method: "maskllm"; prior: Prior; training: Filled<Training> };
export type OneShotJobSpec = Base & { method: (typeof ONE_SHOT_METHODS)[number]; prior?: undefined; training?: undefined };
export type JobSpec = MaskllmJobSpec | OneShotJobSpec;

export interface SpecError {
  /** JSON Pointer into the request body ("" is the body itself) */
  path: string;
  message: string;
}
export type ParseResult = { ok: true; spec: JobSpec } | { ok: false; errors: SpecError[] };

// ---------------------------------------------------------------------------------------------------------
// Helpers the worker and API share

export type DatasetRef = { kind: "builtin"; name: string } | { kind: "file"; id: string } | { kind: "url"; url: string };

/** Splits a dataset reference of calibration.dataset or eval.datasets. */
export function parseDatasetRef(ref: string): DatasetRef {
  if (ref.startsWith("builtin:")) return { kind: "builtin", name: ref.slice("builtin:".length) };
  if (ref.startsWith("file:")) return { kind: "file", id: ref.slice("file:".length).toLowerCase() };
  return { kind: "url", url: ref };
}

/** How a `{url}` source is fetched: one archive, or file by file under a base URL (or an s3:// key prefix). */
export function sourceUrlKind(url: string): "tar" | "tar.gz" | "base" {
  const path = new URL(url).pathname.toLowerCase();
  if (path.endsWith(".tar.gz") || path.endsWith(".tgz")) return "tar.gz";
  if (path.endsWith(".tar")) return "tar";
  return "base";
}

// S3's own bucket naming rule (lowercase, 3-63 characters, no leading or trailing dot or hyphen)
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** s3://bucket/key → {bucket, key} (key may be "" or a prefix ending in /); null unless the URI has that shape. */
export function parseS3Url(url: string): { bucket: string; key: string } | null {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m || !S3_BUCKET.test(m[1])) return null;
  return { bucket: m[1], key: m[2] ?? "" };
}

/** Where a deployment lets a job's URLs point; the API and the worker check a spec against it. */
export interface NetworkPolicy {
  /** URLs may name private addresses (ALLOW_PRIVATE_SOURCES) */
  allowPrivate: boolean;
  /** buckets an s3:// source may name (S3_SOURCE_BUCKETS) */
  s3Buckets: string[];
  /** the service's own storage bucket: never a source (another tenant's files live there) */
  ownBucket?: string;
}

export function networkPolicy(config: Pick<Config, "allowPrivateSources" | "s3SourceBuckets" | "storage">): NetworkPolicy {
  return { allowPrivate: config.allowPrivateSources, s3Buckets: config.s3SourceBuckets, ownBucket: config.storage.driver === "s3" ? config.storage.bucket : undefined };
}

/** Why an s3:// source URL cannot be read, or null; the bucket rules only with a policy. */
export function s3Problem(url: string, policy?: NetworkPolicy): string | null {
  const loc = parseS3Url(url);
  if (!loc) return "must be s3://<bucket>/<key> with a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(url)) return "must not contain control characters or backslashes";
  // a path-style endpoint may normalise /bucket/../other-bucket/key into another bucket
  if (loc.key.split("/").some((seg) => seg === "." || seg === "..") || loc.key.startsWith("/")) return 'must not contain "." or ".." segments or a leading /';
  if (!policy) return null;
  if (loc.bucket === policy.ownBucket) return `names this service's own storage bucket; a checkpoint you uploaded is {"checkpoint_id": "<id>"}`;
  if (!policy.s3Buckets.includes(loc.bucket)) return `names bucket ${loc.bucket}, which is not one this deployment reads sources from (${policy.s3Buckets.length ? policy.s3Buckets.join(", ") : "none are configured"})`;
  return null;
}

/** Why an https URL of the spec must not be fetched (a literal private address), or null. */
function privateUrlProblem(url: string, policy?: NetworkPolicy): string | null {
  if (!policy || policy.allowPrivate) return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null; // the shape check reports it
  }
  const reason = literalPrivateHostReason(u);
  return reason ? `must not point at a loopback, private, link-local or metadata address (${reason})` : null;
}

/** Deepest nesting a spec may have (the deepest valid one has 4 levels); checked before anything recursive runs. */
export const MAX_SPEC_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What makes a JSON value unstorable, found without recursion (so hostile depth cannot overflow the stack):
 * nesting deeper than `maxDepth`, or a string (key or value) Postgres' jsonb refuses: NUL or a lone surrogate.
 */
export function unstorableJson(value: unknown, maxDepth: number): string | null {
  const badText = (s: string) => s.includes("\u0000") || LONE_SURROGATE.test(s);
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "string" && badText(v)) return "holds a string with a NUL character or a lone UTF-16 surrogate";
    if (typeof v !== "object" || v === null) continue;
    if (depth > maxDepth) return `nests deeper than ${maxDepth} levels`;
    for (const [k, child] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      if (typeof k === "string" && badText(k)) return "holds a key with a NUL character or a lone UTF-16 surrogate";
      if (typeof child === "string" || (typeof child === "object" && child !== null)) stack.push([child, depth + 1]);
    }
  }
  return null;
}

export const DEFAULT_HUB_HOSTS = ["huggingface.co", "www.huggingface.co", "hf.co"];
const HUB_NON_MODEL = new Set(["datasets", "spaces", "docs", "models", "organizations", "settings", "collections", "papers", "api"]);

/**
 * A Hub page URL as the {hf} source: https://huggingface.co/<owner>/<name>, .../tree/<revision> and
 * .../resolve/<revision>[/]. Returns null for other URLs, and an error string for a Hub URL that names
 * no model repo (a dataset, a single file).
 */
export function hubSourceFromUrl(url: string, hubHosts = DEFAULT_HUB_HOSTS): { repo: string; revision: string } | string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (!hubHosts.includes(u.hostname.toLowerCase())) return null;
  const parts = u.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const bad = `is a Hugging Face URL that names no model repo; use https://huggingface.co/<owner>/<name>[/tree/<revision>] or {"hf": {"repo": ...}}`;
  if (parts.length < 1 || HUB_NON_MODEL.has(parts[0])) return bad;
  // legacy repos have no owner ("gpt2"); recognise them only in the bare form
  if (parts.length === 1) return { repo: parts[0], revision: "main" };
  const repo = `${parts[0]}/${parts[1]}`;
  if (parts.length === 2) return { repo, revision: "main" };
  if (parts.length === 4 && (parts[2] === "tree" || parts[2] === "resolve")) return { repo, revision: parts[3] };
  return bad;
}

/** The canonical form of a source: Hub page URLs become {hf}, an hf revision defaults to main. */
export function normalizeSource(source: JobSource, hubHosts = DEFAULT_HUB_HOSTS): JobSource {
  if ("url" in source) {
    if (source.url.startsWith("s3://")) return { url: source.url };
    const hub = hubSourceFromUrl(source.url, hubHosts);
    return hub && typeof hub === "object" ? { hf: hub } : { url: source.url };
  }
  if ("hf" in source) return { hf: { ...source.hf, revision: source.hf.revision ?? "main" } };
  return { checkpoint_id: source.checkpoint_id.toLowerCase() };
}

/** The spec with secrets replaced, for responses, events and logs. */
export function redactSpec<T extends { source: JobSource }>(spec: T): T {
  if (!("hf" in spec.source) || spec.source.hf.token === undefined) return spec;
  return { ...spec, source: { hf: { ...spec.source.hf, token: "[redacted]" } } };
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

const MESSAGES: Record<string, string> = {
  "/source": 'must be exactly one of {"url": ...}, {"hf": {"repo": ...}}, {"checkpoint_id": ...}',
  "/source/url": "must be an https URL or an s3://<bucket>/<key> URI",
  "/source/checkpoint_id": "must be a uuid",
  "/source/hf/repo": 'must be a Hub repo id such as "meta-llama/Llama-2-7b-hf"',
  "/source/hf/revision": "must be a branch, tag or commit name",
  "/pattern": 'must be "N:M" with integers 1 <= N < M <= 16, e.g. "2:4"',
  "/prior": `must be one of ${PRIOR_METHODS.map((p) => `"${p}"`).join(", ")} or {"mask_id": <uuid>}`,
  "/prior/mask_id": "must be a uuid",
  "/targets/*": "must be a glob of letters, digits, _ . - * ? (at most 200 characters)",
  "/ignore/*": "must be a glob of letters, digits, _ . - * ? (at most 200 characters)",
  "/calibration/dataset": `must be ${CALIBRATION_BUILTINS.map(builtinRef).join(", ")}, file:<uuid> or an https URL`,
  "/eval/datasets/*": `must be ${EVAL_BUILTINS.map(builtinRef).join(", ")} or file:<uuid>`,
  "/webhook/url": "must be an https URL",
  "/metadata/tags/*": "must be 1-64 characters of letters, digits, _ . : / -",
};

interface RawError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

const unescape = (s: string) => s.replace(/~1/g, "/").replace(/~0/g, "~");
const escape = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

function at(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const part of pointer.replace(/^#/, "").split("/").filter(Boolean).map(unescape)) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Which branch of a union the value was meant for: an object by its required keys, a string by its type. */
function intendedBranch(branches: Record<string, unknown>[], value: unknown): number {
  return branches.findIndex((b) =>
    isPlainObject(value)
      ? b.type === "object" && ((b.required as string[] | undefined) ?? []).every((k) => k in value) && Object.keys(value).length > 0
      : typeof value === "string" && (b.type === "string" || Array.isArray(b.enum)),
  );
}

/** TypeBox's errors for one part of the body, as one clear message per problem with its JSON Pointer. */
function explainPart(schema: TSchema, value: unknown, prefix: string): SpecError[] {
  const out: SpecError[] = [];
  for (const e of Value.Errors(schema, value) as unknown as RawError[]) {
    if (e.keyword === "additionalProperties") continue; // the per-key "boolean" errors below name each field
    const path = prefix + e.instancePath;
    const generic = path.replace(/\/\d+(?=\/|$)/g, "/*");
    if (e.keyword === "boolean" && e.schemaPath.endsWith("/additionalProperties")) {
      const parent = at(schema, e.schemaPath.replace(/\/additionalProperties$/, "")) as { properties?: object } | undefined;
      out.push({ path, message: `unknown field; allowed: ${Object.keys(parent?.properties ?? {}).join(", ")}` });
    } else if (e.keyword === "required") {
      const holder = at(value, e.instancePath);
      for (const key of (e.params.requiredProperties as string[] | undefined) ?? [])
        if (!isPlainObject(holder) || !(key in holder)) out.push({ path: `${path}/${escape(key)}`, message: "is required" });
    } else if (e.keyword === "enum") {
      out.push({ path, message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}` });
    } else if ((e.keyword === "pattern" || e.keyword === "format") && MESSAGES[generic]) {
      out.push({ path, message: MESSAGES[generic] });
    } else if ((e.keyword === "minItems" || e.keyword === "maxItems") && typeof e.params.limit === "number") {
      out.push({ path, message: `must list ${e.keyword === "minItems" ? "at least" : "at most"} ${e.params.limit} item${e.params.limit === 1 ? "" : "s"}` });
    } else if (e.keyword === "uniqueItems") {
      out.push({ path, message: "must not repeat an item" });
    } else {
      out.push({ path, message: e.message });
    }
  }
  return out;
}

/**
 * Schema errors of the whole body. Each top-level field is checked on its own: TypeBox buffers at most 8
 * errors per check (a DoS guard we keep), and one bad field must not hide the others. A union is checked
 * only against the branch the value was meant for, so {"url": "http://..."} says "must be an https URL"
 * instead of also complaining that "hf" and "checkpoint_id" are missing.
 */
function schemaErrors(body: Record<string, unknown>): SpecError[] {
  const errors: SpecError[] = [];
  const properties = JobSpecSchema.properties as Record<string, TSchema>;
  for (const key of Object.keys(body))
    if (!(key in properties)) errors.push({ path: `/${escape(key)}`, message: `unknown field; allowed: ${Object.keys(properties).join(", ")}` });
  for (const key of JobSpecSchema.required ?? []) if (!(key in body)) errors.push({ path: `/${key}`, message: "is required" });
  for (const [key, schema] of Object.entries(properties)) {
    if (body[key] === undefined) continue;
    const branches = (schema as { anyOf?: TSchema[] }).anyOf;
    if (!branches) {
      errors.push(...explainPart(schema, body[key], `/${key}`));
      continue;
    }
    const chosen = intendedBranch(branches as unknown as Record<string, unknown>[], body[key]);
    if (chosen < 0) errors.push({ path: `/${key}`, message: MESSAGES[`/${key}`] ?? "has the wrong shape" });
    else
      errors.push(...explainPart(branches[chosen], body[key], `/${key}`).map((e) => (e.path === `/${key}` && MESSAGES[e.path] ? { ...e, message: MESSAGES[e.path] } : e)));
  }
  const seen = new Set<string>();
  return errors.filter((e) => !seen.has(`${e.path}\n${e.message}`) && seen.add(`${e.path}\n${e.message}`));
}

function httpsProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "must be an https URL (this one does not parse)";
  }
  if (u.protocol !== "https:") return "must be an https URL";
  if (!u.hostname) return "must name a host";
  if (u.username || u.password) return "must not embed credentials";
  return null;
}

function isPattern(pattern: string): boolean {
  try {
    parsePattern(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Rules across fields, on a body that already matches the schema (defaults applied). */
function crossFieldErrors(body: JobSpecInput, hubHosts: string[], policy?: NetworkPolicy): SpecError[] {
  const errors: SpecError[] = [];
  // the schema's regex leaves only N >= M to refuse
  if (!isPattern(body.pattern!)) errors.push({ path: "/pattern", message: `N must be smaller than M, got ${body.pattern}` });
  if ("url" in body.source) {
    const problem = body.source.url.startsWith("s3://") ? s3Problem(body.source.url, policy) : (httpsProblem(body.source.url) ?? privateUrlProblem(body.source.url, policy));
    const hub = problem || body.source.url.startsWith("s3://") ? null : hubSourceFromUrl(body.source.url, hubHosts);
    if (problem) errors.push({ path: "/source/url", message: problem });
    else if (typeof hub === "string") errors.push({ path: "/source/url", message: hub });
  }
  if ("hf" in body.source && body.source.hf.revision?.includes("..")) errors.push({ path: "/source/hf/revision", message: 'must not contain ".."' });
  const dataset = body.calibration!.dataset!;
  if (dataset.startsWith("https://")) {
    const problem = httpsProblem(dataset) ?? privateUrlProblem(dataset, policy);
    if (problem) errors.push({ path: "/calibration/dataset", message: problem });
  }
  const builtinFormat = builtinDataset(dataset)?.format;
  if (builtinFormat && body.calibration!.format && body.calibration!.format !== builtinFormat)
    errors.push({ path: "/calibration/format", message: `${dataset} is in the "${builtinFormat}" format; leave format out` });
  // builtin:wikitext is the Wikitext-2 *test* split: learning a mask on it and scoring on it measures memorisation
  const wikitext = builtinRef("wikitext");
  if (dataset === wikitext && body.eval!.datasets!.includes(wikitext))
    errors.push({ path: "/eval/datasets", message: `${wikitext} is also the calibration text (both are the Wikitext-2 test split); evaluate on other data or calibrate on other text` });
  if (body.webhook) {
    const problem = httpsProblem(body.webhook.url) ?? privateUrlProblem(body.webhook.url, policy);
    if (problem) errors.push({ path: "/webhook/url", message: problem });
  }
  if (body.method !== "maskllm") {
    if (body.prior !== undefined) errors.push({ path: "/prior", message: `applies only to method "maskllm" (a one-shot method "${body.method}" has no prior)` });
    if (body.training !== undefined) errors.push({ path: "/training", message: `applies only to method "maskllm" ("${body.method}" is one-shot and does not train)` });
  }
  return errors;
}

export interface ParseOptions {
  /** host names whose page URLs are read as the hf source (default: huggingface.co, hf.co) */
  hubHosts?: string[];
  /** the deployment's network policy (the API and the worker); without it only the shape is checked (the CLI) */
  network?: NetworkPolicy;
}

/**
 * Checks a POST /v1/jobs body and returns the resolved spec (every default filled in, source normalised),
 * or every problem found, each with a JSON Pointer path. Never throws on bad input.
 */
export function parseJobSpec(body: unknown, opts: ParseOptions = {}): ParseResult {
  const hubHosts = opts.hubHosts ?? DEFAULT_HUB_HOSTS;
  if (!isPlainObject(body)) return { ok: false, errors: [{ path: "", message: "must be a JSON object" }] };
  const unstorable = unstorableJson(body, MAX_SPEC_DEPTH);
  if (unstorable) return { ok: false, errors: [{ path: "", message: unstorable }] };
  const input = structuredClone(body);
  const oneShot = input.method !== undefined && input.method !== "maskllm";
  // prior and training get their defaults only for maskllm; for a one-shot method they must stay absent
  const withDefaults = applyDefaults(oneShot ? Type.Omit(JobSpecSchema, ["prior", "training"]) : JobSpecSchema, input) as Record<string, unknown>;
  if (!oneShot) {
    withDefaults.prior ??= "sparsegpt";
    withDefaults.training = applyDefaults(TrainingSchema, withDefaults.training ?? {});
  }
  const shapeErrors = schemaErrors(withDefaults);
  if (shapeErrors.length > 0) return { ok: false, errors: shapeErrors };
  const checked = withDefaults as JobSpecInput;
  if (!oneShot && checked.training!.lr_min! > checked.training!.lr!)
    return { ok: false, errors: [{ path: "/training/lr_min", message: `must not exceed training.lr (${checked.training!.lr})` }] };
  const semantic = crossFieldErrors(checked, hubHosts, opts.network);
  if (semantic.length > 0) return { ok: false, errors: semantic };

  const calibration = checked.calibration!;
  const format = calibration.format ?? builtinDataset(calibration.dataset!)?.format ?? "stories";
  const spec = {
    ...checked,
    source: normalizeSource(checked.source, hubHosts),
    calibration: { ...calibration, format, dataset: normaliseFileRef(calibration.dataset!) },
    eval: { ...checked.eval!, datasets: checked.eval!.datasets!.map(normaliseFileRef), seq_len: checked.eval!.seq_len ?? calibration.seq_len! },
  } as JobSpec;
  return { ok: true, spec };
}

// TypeBox fills an absent object from its default but not that new object's own defaults: a second pass does.
const applyDefaults = (schema: TSchema, value: unknown) => Value.Default(schema, Value.Default(schema, value));

const normaliseFileRef = (ref: string) => (ref.startsWith("file:") ? ref.toLowerCase() : ref);

/** Like parseJobSpec, for the worker re-reading Job.spec: throws InvalidJobError (not retried) on a bad spec. */
export function assertJobSpec(body: unknown, opts: ParseOptions = {}): JobSpec {
  const r = parseJobSpec(body, opts);
  if (!r.ok)
    throw new InvalidJobError("invalid_spec", `invalid job spec: ${r.errors.map((e) => `${e.path || "(body)"} ${e.message}`).join("; ")}`, { details: { errors: r.errors } });
  return r.spec;
}

const DEMO_CHECKPOINT = "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90";
const DEMO_MASK = "9b1d4f6a-2c3e-4a5b-8d7f-0e1f2a3b4c5d";

/** Request bodies for the OpenAPI document (the ids are examples: use those your uploads returned). */
export const JobSpecExamples: Record<string, { summary: string; value: JobSpecInput }> = {
  maskllm: {
    summary: "MaskLLM 2:4 on an uploaded checkpoint, paper defaults",
    value: { source: { checkpoint_id: DEMO_CHECKPOINT }, method: "maskllm", pattern: "2:4", training: { steps: 200, batch_size: 8 } },
  },
  hub: {
    summary: "SparseGPT baseline on a Hub model",
    value: { source: { hf: { repo: "meta-llama/Llama-2-7b-hf", revision: "main" } }, method: "sparsegpt", calibration: { dataset: "builtin:wikitext", samples: 128, seq_len: 4096 } },
  },
  transfer: {
    summary: "MaskLLM seeded with an earlier mask (transfer)",
    value: { source: { checkpoint_id: DEMO_CHECKPOINT }, prior: { mask_id: DEMO_MASK }, calibration: { dataset: "builtin:wikitext" } },
  },
};
