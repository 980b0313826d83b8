// Streaming a body into a file while counting and hashing it: every byte a job takes in passes through here,
// so the size cap and the sha256 are enforced in one place; and reading a stored object back whole.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { InvalidJobError } from "../contract/errors.js";
import type { BlobStore } from "../storage/index.js";

export interface StoredFile {
  name: string;
  bytes: number;
  sha256: string;
}

/** Bytes still allowed across all files of one source; shared by the calls that fill it. */
export class ByteBudget {
  used = 0;
  constructor(readonly limit: number, readonly what: string) {}
  take(n: number): void {
    this.used += n;
    if (this.used > this.limit)
      throw new InvalidJobError("source_too_large", `${this.what} is larger than the limit of ${this.limit} bytes; use a smaller model or ask the operator to raise MAX_DOWNLOAD_BYTES`);
  }
}

/** Writes `body` to `path` (removed again on any error); returns its size and sha256. */
export async function writeStream(body: Readable | AsyncIterable<Uint8Array>, path: string, budget: ByteBudget, signal?: AbortSignal): Promise<{ bytes: number; sha256: string }> {
  await mkdir(dirname(path), { recursive: true });
  const hash = createHash("sha256");
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        budget.take(chunk.length);
      } catch (err) {
        cb(err as Error);
        return;
      }
      bytes += chunk.length;
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(path), signal ? { signal } : {});
  } catch (err) {
    await rm(path, { force: true });
    throw signal?.aborted ? signal.reason : err;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** sha256 over the sorted (name, sha256) list: one digest naming a whole model folder. */
export function folderDigest(files: readonly { name: string; sha256: string }[]): string {
  const h = createHash("sha256");
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`${f.name}\0${f.sha256}\n`);
  return h.digest("hex");
}

/** A file name from a listing or an archive that is safe to write under the job's folder. */
export function safeRelativeName(name: string): string | null {
  const clean = name.replace(/^\.\//, "");
  if (clean === "" || clean.startsWith("/") || clean.includes("\\") || clean.split("/").some((s) => s === "" || s === "." || s === "..")) return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(clean)) return null;
  return clean;
}

/** A stored object's bytes, in a buffer of their own: decoders view it as Float32Array, which a pooled Buffer's offset would break. */
export async function readBlob(store: BlobStore, key: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await store.get(key)) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
