// Parquet datasets (HF datasets' shards): a string column (`text` by default) gives a document per row; a
// `messages` column (list<struct<role, content>>, or JSON) gives a conversation per row, rendered with the
// checkpoint's chat template. Read one row group at a time through hyparquet (snappy built in; zstd, gzip,
// brotli and lz4 from hyparquet-compressors), only the chosen column; errors name the column.
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData, type SchemaTree } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DatasetError } from "./errors.js";
import { recordDocument, type RecordOptions } from "./jsonl-dataset.js";

export interface ParquetOptions extends RecordOptions {
  /** documents may hold at most this many characters in all (the decompressed text of a small file can be huge) */
  maxChars?: number;
}

/** A column's type as a user knows it: string, int64, list, struct, json, binary… */
function typeName(col: SchemaTree): string {
  const e = col.element;
  const logical = e.logical_type?.type;
  if (logical === "STRING" || e.converted_type === "UTF8") return "string";
  if (e.converted_type === "JSON" || logical === "JSON") return "json";
  if (logical === "LIST" || e.converted_type === "LIST") return "list";
  if (col.children.length > 0) return "struct";
  if (e.type === "BYTE_ARRAY") return "binary";
  return (e.type ?? "unknown").toLowerCase();
}

async function metadataOf(file: AsyncBuffer): Promise<FileMetaData> {
  try {
    return await parquetMetadataAsync(file);
  } catch (err) {
    throw new DatasetError(`not a readable Parquet file (${(err as Error).message})`);
  }
}

/** The column to read and whether it holds text or conversations; the error lists the columns there are. */
function pickColumn(columns: SchemaTree[], field: string | undefined): { name: string; chat: boolean } {
  const names = columns.map((c) => c.element.name);
  const name = field ?? (names.includes("text") ? "text" : names.includes("messages") ? "messages" : "text");
  const col = columns.find((c) => c.element.name === name);
  if (!col) throw new DatasetError(`column \`${name}\` not found; columns: ${names.join(", ") || "(none)"}`);
  const type = typeName(col);
  if (type === "string") return { name, chat: false };
  if (type === "list" || type === "json") return { name, chat: true };
  throw new DatasetError(`column \`${name}\` has type ${type}, expected string (or a list<struct<role, content>> of chat messages)`);
}

export async function parquetDocuments(file: AsyncBuffer, opts: ParquetOptions = {}): Promise<string[]> {
  const metadata = await metadataOf(file);
  const { name, chat } = pickColumn(parquetSchema(metadata).children, opts.field);
  const docs: string[] = [];
  let chars = 0;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, columns: [name], rowStart, rowEnd, compressors });
    } catch (err) {
      throw new DatasetError(`column \`${name}\`, rows ${rowStart}-${rowEnd - 1}: cannot be decoded (${(err as Error).message})`);
    }
    for (const [i, row] of rows.entries()) {
      const where = `row ${rowStart + i} of column \`${name}\``;
      const value = row[name];
      if (chat && typeof value === "string") throw new DatasetError(`${where}: expected a list of {role, content} messages, got a string`);
      const doc = recordDocument(value, where, opts, name);
      if (doc === undefined) continue;
      chars += doc.length;
      if (opts.maxChars !== undefined && chars > opts.maxChars) throw new DatasetError(`column \`${name}\` holds more than ${opts.maxChars} characters of text (the limit for one dataset)`);
      docs.push(doc);
    }
    rowStart = rowEnd;
  }
  return docs;
}
