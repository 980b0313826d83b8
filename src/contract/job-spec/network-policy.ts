// The deployment's rules for the URLs a job names: private addresses only with ALLOW_PRIVATE_SOURCES, s3://
// sources only from S3_SOURCE_BUCKETS, and never the service's own bucket.
import type { Config } from "../../config.js";
import { literalPrivateHostReason } from "../addresses.js";
import { parseS3Url } from "./source.js";

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
export function privateUrlProblem(url: string, policy?: NetworkPolicy): string | null {
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
