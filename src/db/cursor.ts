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
  if (Number.isNaN(createdAt.getTime()) || !UUID.test(parsed[1])) throw new InvalidCursorError();
  return { createdAt, id: parsed[1] };
}
