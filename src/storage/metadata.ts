// User metadata travels as HTTP headers on S3, which lower-cases the names; both backends store it the
// same way so code written against the local store in tests reads the same names back from S3.

/** lower-cased names, string values; undefined stays undefined */
export function normalizeMetadata(metadata: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!metadata) return undefined;
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

/** what S3 reports for an object stored without a content type; the local store reports the same */
export const DEFAULT_CONTENT_TYPE = "application/octet-stream";
