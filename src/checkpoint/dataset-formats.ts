// The one place a dataset's bytes become documents, whatever its format (contract/datasets.ts lists them): plain
// text, stories, WikiText, JSONL and Parquet all end as string[] for the same token stream (text-dataset.ts).
// `auto` infers the format only where that is unambiguous: Parquet's magic bytes or a .parquet/.jsonl name;
// other text keeps the rule jobs have always had (stories when it has separators, else one wikitext document).
import { open, readFile, stat } from "node:fs/promises";
import { asyncBufferFromFile, type AsyncBuffer } from "hyparquet";
import type { DatasetFormat, FormatChoice } from "../contract/datasets.js";
import { chatRenderer, type ChatRenderer } from "./chat-template.js";
import type { TextTokenizer } from "./tokenizer.js";
import { DatasetError } from "./errors.js";
import { jsonlDocuments } from "./jsonl-dataset.js";
import { parquetDocuments } from "./parquet-dataset.js";
import { readDocuments } from "./text-dataset.js";

/** A dataset's bytes: a file on disk (Parquet is then read a row group at a time) or bytes in memory. */
export type DatasetBytes = { path: string } | { bytes: Uint8Array };

export interface DocumentOptions {
  /** how errors name the dataset */
  name: string;
  /** the file's own name (upload name, URL path, repo path): what `auto` reads the extension of */
  fileName?: string;
  field?: string;
  chat?: ChatRenderer;
  maxChars?: number;
}

const PAR1 = [0x50, 0x41, 0x52, 0x31];
// eslint-disable-next-line no-control-regex -- NUL separates TinyStories documents
const SEPARATORS = /<\|endoftext\|>|\u0000/;

const isParquet = (head: Uint8Array) => head.length >= 4 && PAR1.every((b, i) => head[i] === b);
const extension = (name: string | undefined) => /\.([A-Za-z0-9]+)$/.exec(name ?? "")?.[1]?.toLowerCase();

/** The format `auto` stands for, from the first bytes, the file name and (for text) the text itself. */
export function inferFormat(head: Uint8Array, fileName: string | undefined, text?: string): DatasetFormat {
  const ext = extension(fileName);
  if (isParquet(head) || ext === "parquet") return "parquet";
  if (ext === "jsonl" || ext === "ndjson") return "jsonl";
  return text !== undefined && !SEPARATORS.test(text) ? "wikitext" : "stories";
}

async function headOf(src: DatasetBytes): Promise<Uint8Array> {
  if ("bytes" in src) return src.bytes.subarray(0, 4);
  const fh = await open(src.path);
  try {
    const buf = new Uint8Array(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function decodeUtf8(bytes: Uint8Array, name: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // name the line of the first bad byte: the part before it decodes
    let lo = 0;
    let hi = bytes.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, mid));
        lo = mid;
      } catch {
        hi = mid;
      }
    }
    const line = new TextDecoder().decode(bytes.subarray(0, lo)).split("\n").length;
    throw new DatasetError(`${name} is not UTF-8 text (first bad byte near line ${line}); send UTF-8 text or a Parquet file`);
  }
}

function memoryBuffer(bytes: Uint8Array): AsyncBuffer {
  return { byteLength: bytes.byteLength, slice: (s, e) => bytes.slice(s, e).buffer };
}

/** A dataset's documents in its format (auto: inferFormat), with errors that name the dataset and the place. */
export async function datasetDocuments(src: DatasetBytes, format: FormatChoice, opts: DocumentOptions): Promise<{ docs: string[]; format: DatasetFormat }> {
  const size = "bytes" in src ? src.bytes.length : (await stat(src.path)).size;
  if (size === 0) throw new DatasetError(`${opts.name} is empty`);
  const head = await headOf(src);
  const named = (err: unknown) => (err instanceof DatasetError ? new DatasetError(`${opts.name}: ${err.message}`) : err);
  let resolved: DatasetFormat | undefined = format === "auto" ? undefined : format;
  if (resolved === "parquet" || (resolved === undefined && inferFormat(head, opts.fileName) === "parquet")) {
    if (!isParquet(head)) throw new DatasetError(`${opts.name} is not a Parquet file (it does not start with PAR1)`);
    const file = "bytes" in src ? memoryBuffer(src.bytes) : await asyncBufferFromFile(src.path);
    const docs = await parquetDocuments(file, opts).catch((err: unknown) => Promise.reject(named(err)));
    return { docs, format: "parquet" };
  }
  if (isParquet(head)) throw new DatasetError(`${opts.name} is a Parquet file; use format parquet (or auto)`);
  const text = decodeUtf8("bytes" in src ? src.bytes : await readFile(src.path), opts.name);
  resolved ??= inferFormat(head, opts.fileName, text);
  if (opts.maxChars !== undefined && text.length > opts.maxChars) throw new DatasetError(`${opts.name} holds more than ${opts.maxChars} characters`);
  if (resolved === "jsonl") {
    try {
      return { docs: jsonlDocuments(text, opts), format: "jsonl" };
    } catch (err) {
      throw named(err);
    }
  }
  if (resolved === "parquet") throw new DatasetError(`${opts.name} is not a Parquet file (it does not start with PAR1)`);
  return { docs: readDocuments(text, resolved), format: resolved };
}

/** A local dataset file's documents, conversations rendered with the tokenizer's chat template (the CLI's --calib and --text). */
export function fileDocuments(path: string, format: FormatChoice, tokenizer: Pick<TextTokenizer, "chat" | "bosId">, field?: string): Promise<{ docs: string[]; format: DatasetFormat }> {
  return datasetDocuments({ path }, format, { name: path, fileName: path, field, chat: chatRenderer(tokenizer) });
}
