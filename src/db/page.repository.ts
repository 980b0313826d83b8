// Newest-first keyset pages over any table with (createdAt, id): jobs, checkpoints, files, masks. Pages neither
// skip nor repeat rows when new ones arrive. Throws InvalidCursorError on a cursor we did not hand out.
import { decodeCursor, encodeCursor } from "./cursor.js";

export interface PageOptions {
  /** 1..100, default 20 */
  limit?: number;
  cursor?: string;
}

export function pageArgs(opts: PageOptions) {
  const take = Math.min(100, Math.max(1, Math.floor(opts.limit ?? 20)));
  const after = opts.cursor ? decodeCursor(opts.cursor) : null;
  return {
    take,
    where: after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {},
    orderBy: [{ createdAt: "desc" as const }, { id: "desc" as const }],
  };
}

/** Splits the take+1 rows fetched into the page and the cursor of the next one. */
export function toPage<T extends { createdAt: Date; id: string }>(rows: T[], take: number): { items: T[]; nextCursor: string | null } {
  const more = rows.length > take;
  const items = more ? rows.slice(0, take) : rows;
  const last = items[items.length - 1];
  return { items, nextCursor: more && last ? encodeCursor(last.createdAt, last.id) : null };
}
