// Reads a .tar (ustar, with pax and GNU long names) as a stream of file entries, so an archive of a Hugging Face
// folder goes straight where it belongs file by file, never whole into memory: an upload into storage (the API),
// a {url} source onto the worker's disk (worker/source/tar.ts). The one tar reader of the service.
// Each entry's body must be read to its end before the next entry is asked for. The input is always read to its
// end: tar writers pad the archive to whole records (Python's tarfile and GNU tar to 10240 bytes), and a
// multipart upload cannot move to its next part until this one is drained.
import { Readable } from "node:stream";
import { CheckpointError } from "./errors.js";

const BLOCK = 512;

/**
 * Cap on every header (files, folders, long-name records), for uploads and sources alike: a Hugging Face
 * folder is config, tokenizer files, an index and its shards (Llama 3.1 405B has 191), and every entry costs a
 * blob write before the folder can be judged.
 */
export const MAX_ARCHIVE_ENTRIES = 256;
/** zero padding allowed after the end-of-archive blocks (GNU tar's largest usual record is 1 MiB) */
const MAX_TRAILING_BYTES = 1024 * 1024;

class ByteReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else {
        const b = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
        this.chunks.push(b);
        this.length += b.length;
      }
    }
    return this.length >= n;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** exactly n bytes, or null at a clean end of input; a partial block is a truncated archive */
  async read(n: number): Promise<Buffer | null> {
    if (await this.fill(n)) return this.take(n);
    if (this.length === 0) return null;
    throw truncated();
  }

  /** reads the input to its end; false when it holds a non-zero byte or more than `max` bytes */
  async drainZeros(max: number): Promise<boolean> {
    let seen = 0;
    for (;;) {
      for (const c of this.chunks) {
        seen += c.length;
        if (seen > max || c.some((b) => b !== 0)) return false;
      }
      this.chunks = [];
      this.length = 0;
      if (this.done || !(await this.fill(1))) return true;
    }
  }

  /** n bytes as chunks of whatever size arrives */
  async *chunksOf(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.length === 0 && !(await this.fill(1))) throw truncated();
      const piece = this.take(Math.min(left, this.length));
      left -= piece.length;
      yield piece;
    }
  }
}

const truncated = () => new CheckpointError("READ_FAILED", "the tar archive ends in the middle of an entry (it was cut off)");
const notTar = (why: string) => new CheckpointError("BAD_ARGUMENT", `not a tar archive: ${why}`);

function field(h: Buffer, start: number, len: number): string {
  const raw = h.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString("utf8");
}

function octal(h: Buffer, start: number, len: number): number {
  if (h[start] & 0x80) {
    // GNU base-256 for sizes over 8 GiB
    let v = 0;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = field(h, start, len).trim();
  if (!/^[0-7]*$/.test(s)) throw notTar("a header has a non-octal number");
  return s ? parseInt(s, 8) : 0;
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === octal(h, 148, 8);
}

function paxRecords(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(body.subarray(pos, space).toString());
    if (!Number.isSafeInteger(len) || len <= 0) throw notTar("a bad pax record");
    const rec = body.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

export interface TarEntry {
  /** path inside the archive, as stored */
  path: string;
  size: number;
  body: Readable;
}

/** The regular files of a tar stream, in order. Links and devices are refused; folders are skipped. */
export async function* tarEntries(input: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(input[Symbol.asyncIterator]());
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let first = true;
  for (let entries = 0; ; entries++) {
    const h = await reader.read(BLOCK);
    if (!h) {
      if (first) throw notTar("it is empty");
      return;
    }
    if (h.every((b) => b === 0)) {
      if (!(await reader.drainZeros(MAX_TRAILING_BYTES))) throw notTar("data follows the end of the archive");
      return;
    }
    if (entries >= MAX_ARCHIVE_ENTRIES) throw notTar(`it has more than ${MAX_ARCHIVE_ENTRIES} entries`);
    if (!checksumOk(h)) throw notTar(first ? "the first block is not a tar header" : "a header checksum does not match");
    first = false;
    const type = String.fromCharCode(h[156] || 0x30);
    const size = pax.size !== undefined ? Number(pax.size) : octal(h, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const readAll = async () => {
      const parts: Buffer[] = [];
      for await (const c of reader.chunksOf(padded)) parts.push(c);
      return Buffer.concat(parts).subarray(0, size);
    };
    if (type === "x" || type === "g" || type === "L") {
      if (size > 1024 * 1024) throw notTar("an extended header over 1 MiB");
      const body = await readAll();
      if (type === "x") pax = paxRecords(body);
      else if (type === "L") longName = body.toString("utf8").replace(/\0+$/, "");
      continue;
    }
    const prefix = h.subarray(257, 262).toString() === "ustar" ? field(h, 345, 155) : "";
    const path = pax.path ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    pax = {};
    longName = undefined;
    if (type === "5") {
      for await (const _ of reader.chunksOf(padded));
      continue;
    }
    if (type !== "0" && type !== "7") throw new CheckpointError("BAD_ARGUMENT", `the archive holds ${path}, which is a link or special file (tar entry type ${JSON.stringify(type)}); only regular files are accepted`);
    let consumed = false;
    const body = Readable.from(
      (async function* () {
        for await (const c of reader.chunksOf(size)) yield c;
        consumed = true;
      })(),
      { objectMode: false },
    );
    yield { path, size, body };
    if (!consumed) throw new CheckpointError("BAD_ARGUMENT", "entry body was not read to its end", undefined, path);
    const pad = padded - size;
    if (pad > 0) for await (const _ of reader.chunksOf(pad));
  }
}
