// The schema's errors as a user reads them: one message per problem, at its JSON Pointer, saying what to send
// instead (TypeBox's own messages name the schema, not the fix).
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { builtinRef, CALIBRATION_BUILTINS, EVAL_BUILTINS } from "../datasets.js";
import { JobSpecSchema, PRIOR_METHODS } from "./schema.js";

export interface SpecError {
  /** JSON Pointer into the request body ("" is the body itself) */
  path: string;
  message: string;
}

const FIELD = "must be a JSONL key or Parquet column name (1-64 letters, digits, _ . -)";

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
  "/calibration/dataset": `must be ${CALIBRATION_BUILTINS.map(builtinRef).join(", ")}, file:<uuid>, an https URL or {"hf_dataset": {"repo": ...}}`,
  "/eval/datasets/*": `must be ${EVAL_BUILTINS.map(builtinRef).join(", ")}, file:<uuid>, an https URL, {"hf_dataset": {"repo": ...}} or {"dataset": ..., "format": ..., "field": ...}`,
  "/eval/datasets/*/dataset": `must be ${EVAL_BUILTINS.map(builtinRef).join(", ")}, file:<uuid>, an https URL or {"hf_dataset": {"repo": ...}}`,
  "/calibration/field": FIELD,
  "/eval/datasets/*/field": FIELD,
  ...Object.fromEntries(
    ["/calibration/dataset", "/eval/datasets/*", "/eval/datasets/*/dataset"].flatMap((at) => [
      [`${at}/hf_dataset/repo`, 'must be a Hub repo id such as "roneneldan/TinyStories"'],
      [`${at}/hf_dataset/revision`, "must be a branch, tag or commit name"],
      [`${at}/hf_dataset/files/*`, "must be a path or glob of the repo's files (letters, digits, _ . - / = * ? and spaces)"],
      [`${at}/hf_dataset/split`, "must be a split name (1-64 letters, digits, _ . -)"],
    ]),
  ),
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
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
  let raw = Value.Errors(schema, value) as unknown as RawError[];
  // a union inside (a dataset reference or {hf_dataset}) is explained by the branch the value was meant for
  for (const u of raw.filter((e) => e.keyword === "anyOf")) {
    if (!raw.includes(u)) continue; // inside a union explained already
    const inner = (e: RawError) => e === u || e.schemaPath.startsWith(`${u.schemaPath}/anyOf/`);
    raw = raw.filter((e) => !inner(e));
    out.push(...explainUnion(at(schema, u.schemaPath) as TSchema, at(value, u.instancePath), prefix + u.instancePath));
  }
  for (const e of raw) {
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

/** A value against a union: the branch it was meant for explains it, or one message for the whole. */
function explainUnion(schema: TSchema, value: unknown, path: string): SpecError[] {
  const branches = (schema as { anyOf?: TSchema[] }).anyOf ?? [];
  const generic = path.replace(/\/\d+(?=\/|$)/g, "/*");
  const chosen = intendedBranch(branches as unknown as Record<string, unknown>[], value);
  if (chosen < 0) return [{ path, message: MESSAGES[generic] ?? "has the wrong shape" }];
  return explainPart(branches[chosen], value, path).map((e) => (e.path === path && MESSAGES[generic] ? { ...e, message: MESSAGES[generic] } : e));
}

/**
 * Schema errors of the whole body. Each top-level field is checked on its own: TypeBox buffers at most 8
 * errors per check (a DoS guard we keep), and one bad field must not hide the others. A union is checked
 * only against the branch the value was meant for, so {"url": "http://..."} says "must be an https URL"
 * instead of also complaining that "hf" and "checkpoint_id" are missing.
 */
export function schemaErrors(body: Record<string, unknown>): SpecError[] {
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
    errors.push(...explainUnion(schema, body[key], `/${key}`));
  }
  const seen = new Set<string>();
  return errors.filter((e) => !seen.has(`${e.path}\n${e.message}`) && seen.add(`${e.path}\n${e.message}`));
}
