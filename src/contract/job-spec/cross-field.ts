// The rules the schema cannot state: across fields (a one-shot method takes no prior or training; wikitext is
// not both calibration text and eval set), N < M, and what each URL may name under the deployment's policy.
import { parsePattern } from "../../maskllm/mask/nm.js";
import { builtinDataset, builtinRef } from "../datasets.js";
import { privateUrlProblem, s3Problem, type NetworkPolicy } from "./network-policy.js";
import type { JobSpecInput } from "./schema.js";
import type { SpecError } from "./schema-errors.js";
import { hubSourceFromUrl } from "./source.js";

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
export function crossFieldErrors(body: JobSpecInput, hubHosts: string[], policy?: NetworkPolicy): SpecError[] {
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
  // every dataset with where it sits: the object form's reference is one level down
  const calibration = { dataset: body.calibration!.dataset!, format: body.calibration!.format, field: body.calibration!.field, at: "/calibration/dataset", path: "/calibration" };
  const evals = body.eval!.datasets!.map((item, i) =>
    typeof item === "string" || "hf_dataset" in item ? { dataset: item, format: undefined, field: undefined, at: `/eval/datasets/${i}`, path: `/eval/datasets/${i}` } : { ...item, at: `/eval/datasets/${i}/dataset`, path: `/eval/datasets/${i}` },
  );
  for (const d of [calibration, ...evals]) {
    if (typeof d.dataset === "string") {
      if (d.dataset.startsWith("https://")) {
        const problem = httpsProblem(d.dataset) ?? privateUrlProblem(d.dataset, policy);
        if (problem) errors.push({ path: d.at, message: problem });
      }
      const builtinFormat = builtinDataset(d.dataset)?.format;
      if (builtinFormat && d.format && d.format !== "auto" && d.format !== builtinFormat) errors.push({ path: `${d.path}/format`, message: `${d.dataset} is in the "${builtinFormat}" format; leave format out` });
      if (builtinFormat && d.field) errors.push({ path: `${d.path}/field`, message: `${d.dataset} is plain text and has no fields` });
    } else if (d.dataset.hf_dataset.revision?.includes("..")) errors.push({ path: `${d.at}/hf_dataset/revision`, message: 'must not contain ".."' });
  }
  // builtin:wikitext is the Wikitext-2 *test* split: learning a mask on it and scoring on it measures memorisation
  const wikitext = builtinRef("wikitext");
  if (calibration.dataset === wikitext && evals.some((e) => e.dataset === wikitext))
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
