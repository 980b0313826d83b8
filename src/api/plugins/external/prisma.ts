// Owns the database clients: the Prisma client, and a plain pg Pool for the few hot reads that skip Prisma's
// per-query compilation (src/db/job-reads.ts). Both are created here and closed when the app closes; both
// connect on their first query.
import fp from "fastify-plugin";
import pg from "pg";
import type { PrismaClient } from "@prisma/client";
import { createPrisma } from "../../../db/client.js";

declare module "fastify" {
  interface FastifyInstance {
    prisma: PrismaClient;
    /** plain pg pool on the same database, for hot reads only; writes go through Prisma */
    pg: pg.Pool;
  }
}

export default fp<{ databaseUrl: string }>(
  async (app, opts) => {
    const prisma = createPrisma(opts.databaseUrl);
    // same bounds as Prisma's pool: a dead database fails requests instead of hanging them
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, connectionTimeoutMillis: 5000, max: 10 });
    // an idle connection dropped by the server is an 'error' event, which would crash the process unheard
    pool.on("error", (err) => app.log.warn({ err }, "idle database connection lost"));
    app.decorate("prisma", prisma);
    app.decorate("pg", pool);
    app.addHook("onClose", async () => {
      await Promise.all([prisma.$disconnect(), pool.end()]);
    });
  },
  { name: "prisma" },
);
