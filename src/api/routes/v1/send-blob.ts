// Downloads: on S3 a 302 to a short-lived presigned URL (the bytes never pass through the API); on local
// storage the API streams the file itself, with single-range support (206, Content-Range; 416 past the end).
import type { FastifyReply, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { contentDisposition, type BlobStore } from "../../../storage/index.js";
import { HttpProblem } from "../../problem.js";

export const PRESIGN_SECONDS = 300;

/** The success answers of a download route, for its `response` schema. */
export const BLOB_RESPONSES = {
  200: { description: "the file (local storage); 206 for a Range request", content: { "application/octet-stream": { schema: Type.String({ format: "binary" }) } } },
  206: { description: "the requested byte range (local storage)", content: { "application/octet-stream": { schema: Type.String({ format: "binary" }) } } },
  302: { description: "S3 storage: redirect to a presigned URL valid for 5 minutes", content: { "text/plain": { schema: Type.String() } } },
};

/** One `bytes=` range against `size`: the inclusive span, "unsatisfiable", or null to serve the whole object. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null; // several ranges or garbage: RFC 9110 lets us ignore it
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

export async function sendBlob(storage: BlobStore, req: FastifyRequest, reply: FastifyReply, key: string, fileName: string) {
  if (storage.kind === "s3") {
    const url = await storage.presignedGetUrl(key, { expiresInSeconds: PRESIGN_SECONDS, fileName });
    if (url) return reply.code(302).header("cache-control", "no-store").header("location", url).send();
  }
  const info = await storage.head(key);
  if (!info) throw new HttpProblem(404, "the stored file is missing");
  const size = info.bytes;
  reply.header("accept-ranges", "bytes").header("content-type", "application/octet-stream").header("content-disposition", contentDisposition(fileName));
  if (info.metadata?.sha256) reply.header("etag", `"${info.metadata.sha256}"`);
  const range = parseRange(req.headers.range, size);
  if (range === "unsatisfiable") {
    reply.header("content-range", `bytes */${size}`);
    throw new HttpProblem(416, `the range is outside the file (${size} bytes)`);
  }
  if (range) {
    const body = await storage.get(key, { range });
    return reply
      .code(206)
      .header("content-range", `bytes ${range.start}-${range.end}/${size}`)
      .header("content-length", String(range.end - range.start + 1))
      .send(body);
  }
  const body = await storage.get(key);
  return reply.code(200).header("content-length", String(size)).send(body);
}
