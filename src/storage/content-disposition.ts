// One Content-Disposition builder for presigned S3 URLs and for API downloads from the local store, so a
// file name with quotes, slashes or non-ASCII letters reaches the browser intact and cannot break the header.

/** `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<RFC 5987 encoded>` */
export function contentDisposition(fileName: string): string {
  const base = fileName.split(/[/\\]/).pop() || "download";
  const ascii = base.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "_");
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
