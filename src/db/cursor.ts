// Opaque page cursors for newest-first listings: base64url of the (createdAt, id) of the last row shown.
// Opaque so clients cannot build one, and so the ordering key can change without breaking the API.

export class InvalidCursorError extends Error {
  constructor() {
    super("invalid cursor: pass the nextCursor of a previous page unchanged");
    this.name = "InvalidCursorError";
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString("base64url");
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== "string" || typeof parsed[1] !== "string") throw new InvalidCursorError();
  const createdAt = new Date(parsed[0]);
  // only what encodeCursor writes for a row: a plain ISO date from 1970 to 9999 (JS dates reach years -271821
  // and +275760, and the driver fails on years Postgres or it cannot hold, as a 500)
  const t = createdAt.getTime();
  if (!UUID.test(parsed[1]) || !ISO_DATE.test(parsed[0]) || !(t >= 0 && t <= MAX_DATE_MS) || createdAt.toISOString() !== parsed[0]) throw new InvalidCursorError();
  return { createdAt, id: parsed[1] };
}

const MAX_DATE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Largest value of a Postgres integer column (event seq); a larger position is not one we handed out. */
export const INT32_MAX = 2 ** 31 - 1;

/** A decimal position (event seq) as a number, or InvalidCursorError when it is not one Postgres can hold. */
export function parseSeq(text: string): number {
  if (!/^[0-9]{1,10}$/.test(text)) throw new InvalidCursorError();
  const n = Number(text);
  if (n > INT32_MAX) throw new InvalidCursorError();
  return n;
}
