// Parsing a job spec: the schema's check with its defaults, the cross-field rules, then the resolved spec
// (every default filled in, the source and file references in their one form).
import { Type, type TSchema } from "typebox";
import { Value } from "typebox/value";
import { builtinDataset, type DatasetSource } from "../datasets.js";
import { InvalidJobError } from "../errors.js";
import { crossFieldErrors } from "./cross-field.js";
import type { NetworkPolicy } from "./network-policy.js";
import { JobSpecSchema, TrainingSchema, type EvalDatasetItem, type JobSpec, type JobSpecInput } from "./schema.js";
import { isPlainObject, schemaErrors, type SpecError } from "./schema-errors.js";
import { DEFAULT_HUB_HOSTS, normalizeSource } from "./source.js";
import { MAX_SPEC_DEPTH, unstorableJson } from "./storable-json.js";

export type ParseResult = { ok: true; spec: JobSpec } | { ok: false; errors: SpecError[] };

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
  const dataset = calibration.dataset!;
  const format = calibration.format ?? (typeof dataset === "string" ? builtinDataset(dataset)?.format : undefined) ?? "auto";
  const spec = {
    ...checked,
    source: normalizeSource(checked.source, hubHosts),
    calibration: { ...calibration, format, dataset: normaliseSource(dataset) },
    eval: { ...checked.eval!, datasets: checked.eval!.datasets!.map(normaliseEvalItem), seq_len: checked.eval!.seq_len ?? calibration.seq_len! },
  } as JobSpec;
  return { ok: true, spec };
}

// TypeBox fills an absent object from its default but not that new object's own defaults: a second pass does.
const applyDefaults = (schema: TSchema, value: unknown) => Value.Default(schema, Value.Default(schema, value));

const normaliseFileRef = (ref: string) => (ref.startsWith("file:") ? ref.toLowerCase() : ref);
const normaliseSource = (d: DatasetSource): DatasetSource => (typeof d === "string" ? normaliseFileRef(d) : { hf_dataset: { ...d.hf_dataset, revision: d.hf_dataset.revision ?? "main" } });
const normaliseEvalItem = (item: EvalDatasetItem): EvalDatasetItem =>
  typeof item === "string" || "hf_dataset" in item ? normaliseSource(item) : { ...item, dataset: normaliseSource(item.dataset) };

/** Like parseJobSpec, for the worker re-reading Job.spec: throws InvalidJobError (not retried) on a bad spec. */
export function assertJobSpec(body: unknown, opts: ParseOptions = {}): JobSpec {
  const r = parseJobSpec(body, opts);
  if (!r.ok)
    throw new InvalidJobError("invalid_spec", `invalid job spec: ${r.errors.map((e) => `${e.path || "(body)"} ${e.message}`).join("; ")}`, { details: { errors: r.errors } });
  return r.spec;
}
