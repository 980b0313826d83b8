// Hashes and counts bytes as they pass, so a put never reads its body twice and never buffers it whole,
// and stops the upload at the first byte past the limit instead of after the whole body has arrived.
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { BlobTooLargeError } from "./blob-store.js";

export class MeasureStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private count = 0;

  constructor(private readonly key: string, private readonly maxBytes = Number.POSITIVE_INFINITY) {
    super();
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, done: TransformCallback): void {
    const buf = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    this.count += buf.length;
    if (this.count > this.maxBytes) return done(new BlobTooLargeError(this.key, this.maxBytes));
    this.hash.update(buf);
    done(null, buf);
  }

  get bytes(): number {
    return this.count;
  }

  /** hex sha256 of everything that passed; call once, after the stream ended */
  digest(): string {
    return this.hash.digest("hex");
  }
}

/** Checks `range` against an object of `size` bytes; returns the inclusive end to read, or a reason it is invalid. */
export function resolveRange(range: { start: number; end?: number }, size: number): { end: number } | { reason: string } {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) return { reason: "start must be a non-negative integer" };
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) return { reason: "end must be an integer >= start" };
  if (start >= size) return { reason: `start is past the end of the object (${size} bytes)` };
  return { end: Math.min(end ?? size - 1, size - 1) };
}
