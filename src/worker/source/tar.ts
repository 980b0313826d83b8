// A streaming reader for .tar and .tar.gz model archives (ustar, with pax and GNU long names): regular files
// are written under `dir` as they arrive, hashed and counted against the byte budget; links, devices and
// names that would land outside `dir` are refused. No package: node:zlib for gunzip, the format is 512-byte blocks.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { once } from "node:events";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InvalidJobError } from "../../contract/errors.js";
import { MAX_ARCHIVE_ENTRIES } from "../../checkpoint/tar-entries.js";
import { safeRelativeName, type ByteBudget, type StoredFile } from "../files.js";

class TarFormatError extends InvalidJobError {
  constructor(detail: string) {
    super("checkpoint_invalid", `the archive is not a valid tar file: ${detail}`);
  }
}

/** Exact-size reads over a chunk stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private total = 0;
  /** `onBytes` sees the running total of bytes read (it may throw to stop the read) */
  constructor(private readonly it: AsyncIterator<Buffer>, private readonly onBytes?: (total: number) => void) {}

  private async fill(n: number): Promise<void> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        this.total += r.value.length;
        this.onBytes?.(this.total);
        this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
      }
    }
  }

  /** exactly n bytes, or null at a clean end of stream */
  async read(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buf.length === 0 && this.done) return null;
    if (this.buf.length < n) throw new TarFormatError("it ends in the middle of a block");
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** n bytes in pieces as they arrive */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) await this.fill(1);
      if (this.buf.length === 0) throw new TarFormatError("a file ends early");
      const take = Math.min(left, this.buf.length);
      yield this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
    }
  }
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

function parseSize(field: Buffer): number {
  if (field[0] & 0x80) {
    // GNU base-256 for sizes of 8 GiB and more
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  const s = cString(field).trim();
  if (!/^[0-7]*$/.test(s)) throw new TarFormatError(`bad size field ${JSON.stringify(s)}`);
  return s === "" ? 0 : parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = parseInt(cString(h.subarray(148, 156)).trim() || "0", 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === stored;
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(32, pos);
    if (space < 0) break;
    const len = parseInt(body.subarray(pos, space).toString(), 10);
    if (!(len > 0)) break;
    const rec = body.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

const pad = (n: number) => (512 - (n % 512)) % 512;

/** gzip may expand this much before the ratio is checked (config files and tar padding compress very well) */
export const GZIP_RATIO_FLOOR_BYTES = 16 * 1024 * 1024;

export interface ExtractOptions {
  gzip: boolean;
  budget: ByteBudget;
  maxEntries?: number;
  /**
   * refuse a .tar.gz once it has expanded past GZIP_RATIO_FLOOR_BYTES to more than this many times the
   * compressed bytes read so far: model weights are random-looking floats that gzip barely shrinks, so a
   * high ratio is a decompression bomb, stopped long before the byte budget
   */
  maxRatio?: number;
}

/** Extracts the archive's regular files under `dir`; returns them in archive order. */
export async function extractTar(body: Readable, dir: string, opts: ExtractOptions): Promise<StoredFile[]> {
  let source: Readable = body;
  let compressed = 0;
  let onBytes: ((expanded: number) => void) | undefined;
  if (opts.gzip) {
    const gunzip = createGunzip();
    body.on("error", (e) => gunzip.destroy(e));
    body.on("data", (c: Buffer) => (compressed += c.length));
    source = body.pipe(gunzip);
    const ratio = opts.maxRatio;
    if (ratio !== undefined)
      onBytes = (expanded) => {
        if (expanded > GZIP_RATIO_FLOOR_BYTES && expanded > ratio * compressed)
          throw new InvalidJobError(
            "source_too_large",
            `the archive expands more than ${ratio} times its compressed size (${compressed} bytes became ${expanded} and more); model weights do not compress like that, so it is refused as a decompression bomb`,
          );
      };
  }
  const reader = new ByteReader(source[Symbol.asyncIterator]() as AsyncIterator<Buffer>, onBytes);
  const files: StoredFile[] = [];
  const seen = new Set<string>();
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  try {
    for (let entries = 0; ; entries++) {
      if (entries >= (opts.maxEntries ?? MAX_ARCHIVE_ENTRIES)) throw new TarFormatError(`it has more than ${opts.maxEntries ?? MAX_ARCHIVE_ENTRIES} entries`);
      const h = await reader.read(512);
      if (h === null || h.every((b) => b === 0)) break;
      if (!checksumOk(h)) throw new TarFormatError("a header checksum does not match");
      const size = parseSize(h.subarray(124, 136));
      const type = String.fromCharCode(h[156] || 48);
      const ustar = h.subarray(257, 262).toString() === "ustar";
      const prefix = ustar ? cString(h.subarray(345, 500)) : "";
      let name = pax.path ?? longName ?? (prefix ? `${prefix}/${cString(h.subarray(0, 100))}` : cString(h.subarray(0, 100)));
      if (type === "x" || type === "L" || type === "g") {
        if (size > 1024 * 1024) throw new TarFormatError("an extended header is too large");
        const data = size > 0 ? await reader.read(size + pad(size)) : Buffer.alloc(0);
        if (!data) throw new TarFormatError("it ends inside an extended header");
        if (type === "x") pax = parsePax(data.subarray(0, size));
        else if (type === "L") longName = cString(data.subarray(0, size));
        continue;
      }
      longName = undefined;
      pax = {};
      if (type === "5") {
        if (size > 0) for await (const _ of reader.pieces(size + pad(size)));
        continue;
      }
      if (type !== "0" && type !== "7") throw new InvalidJobError("checkpoint_invalid", `the archive holds ${name}, which is a link or special file; only regular files are accepted`);
      name = name.replace(/^\.\//, "");
      const rel = safeRelativeName(name);
      if (!rel) throw new InvalidJobError("checkpoint_invalid", `the archive holds a file named ${JSON.stringify(name)} that would land outside the model folder`);
      if (seen.has(rel)) throw new InvalidJobError("checkpoint_invalid", `the archive holds ${rel} twice`);
      seen.add(rel);
      const path = join(dir, rel);
      await mkdir(dirname(path), { recursive: true });
      const out = createWriteStream(path);
      const hash = createHash("sha256");
      try {
        for await (const piece of reader.pieces(size)) {
          opts.budget.take(piece.length);
          hash.update(piece);
          if (!out.write(piece)) await once(out, "drain");
        }
      } finally {
        out.end();
        await once(out, "close");
      }
      if (pad(size) > 0) for await (const _ of reader.pieces(pad(size)));
      files.push({ name: rel, bytes: size, sha256: hash.digest("hex") });
    }
  } catch (err) {
    if ((err as { code?: string }).code === "Z_DATA_ERROR" || (err as { code?: string }).code === "Z_BUF_ERROR")
      throw new InvalidJobError("checkpoint_invalid", "the archive is not valid gzip data");
    throw err;
  } finally {
    source.destroy();
    body.destroy();
  }
  return files;
}
