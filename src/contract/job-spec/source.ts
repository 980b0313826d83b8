// A job's source as URLs name it: how a {url} is fetched, s3:// URIs, Hub page URLs read as the {hf} source,
// the one canonical form the worker sees, and the spec with the source's secret hidden.
import type { JobSource } from "./schema.js";

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

type WithDataset = { dataset?: unknown };
const REDACTED = "[redacted]";

/** A dataset (reference, {hf_dataset} or {dataset, …}) with a Hub token replaced. */
function redactDataset<T>(d: T): T {
  if (typeof d !== "object" || d === null) return d;
  if ("hf_dataset" in d) {
    const h = (d as { hf_dataset: { token?: string } }).hf_dataset;
    return h.token === undefined ? d : ({ ...d, hf_dataset: { ...h, token: REDACTED } } as T);
  }
  if ("dataset" in d) return { ...d, dataset: redactDataset((d as WithDataset).dataset) } as T;
  return d;
}

/** The spec with secrets replaced (the source's and the datasets' Hub tokens), for responses, events, logs and exported files. */
export function redactSpec<T extends { source: JobSource; calibration?: unknown; eval?: unknown }>(spec: T): T {
  const out: T = "hf" in spec.source && spec.source.hf.token !== undefined ? { ...spec, source: { hf: { ...spec.source.hf, token: REDACTED } } } : { ...spec };
  if (typeof spec.calibration === "object" && spec.calibration !== null) out.calibration = redactDataset(spec.calibration);
  const ev = spec.eval as { datasets?: unknown } | undefined;
  if (typeof ev === "object" && ev !== null && Array.isArray(ev.datasets)) out.eval = { ...ev, datasets: ev.datasets.map(redactDataset) };
  return out;
}
