// JSON Lines datasets: one object per line with a string `text` (one document) or a chat `messages` array (one
// conversation, rendered with the checkpoint's chat template into one document). Blank lines are skipped; an
// error names the line.
import { asConversation, renderConversation, type ChatRenderer } from "./chat-template.js";
import { DatasetError } from "./errors.js";

export interface RecordOptions {
  /** the key to read; default `text`, else `messages` */
  field?: string;
  chat?: ChatRenderer;
}

const EXPECTED = "expected a JSON object with a string `text` or a `messages` array";

/** A row's document: a string value as is, an array as a conversation; undefined for an empty or null value. */
export function recordDocument(value: unknown, where: string, opts: RecordOptions, key: string): string | undefined {
  if (value === null || value === "") return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return renderConversation(opts.chat, asConversation(value, where), where);
  throw new DatasetError(`${where}: \`${key}\` must be a string or a \`messages\` array, got ${typeof value}`);
}

export function jsonlDocuments(text: string, opts: RecordOptions = {}): string[] {
  const docs: string[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const where = `line ${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new DatasetError(`${where}: not valid JSON (${(err as Error).message}); ${EXPECTED}`);
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) throw new DatasetError(`${where}: ${EXPECTED}`);
    const o = row as Record<string, unknown>;
    const key = opts.field ?? ("text" in o ? "text" : "messages" in o ? "messages" : undefined);
    if (key === undefined || !(key in o)) throw new DatasetError(`${where}: ${opts.field ? `no \`${opts.field}\` key (the field the spec names)` : EXPECTED}`);
    // a `messages` value is a conversation or nothing: a string there is a mistake, not a text document
    if (key === "messages" && o[key] !== null) asConversation(o[key], where);
    const doc = recordDocument(o[key], where, opts, key);
    if (doc !== undefined) docs.push(doc);
  }
  return docs;
}
