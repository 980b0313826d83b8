// The Prisma client on the pg driver adapter (Prisma 6 `engineType = "client"`): no native query engine to download.
// At run time a connection string is fine; only migrations need the host/port form (see prisma.config.ts).
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "@prisma/client";

export interface PrismaOptions {
  /** give up opening a new pool connection after this long, so a dead database fails requests instead of hanging them */
  connectTimeoutMs?: number;
  /** most pool connections */
  maxConnections?: number;
}

/** A PrismaClient for `databaseUrl`; it connects lazily, on its first query. */
export function createPrisma(databaseUrl: string, opts: PrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    max: opts.maxConnections ?? 10,
  });
  return new PrismaClient({ adapter });
}
