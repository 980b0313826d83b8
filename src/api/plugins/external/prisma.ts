// Owns the Prisma client: created here, closed when the app closes. It connects on its first query.
import fp from "fastify-plugin";
import type { PrismaClient } from "@prisma/client";
import { createPrisma } from "../../../db/client.js";

declare module "fastify" {
  interface FastifyInstance {
    prisma: PrismaClient;
  }
}

export default fp<{ databaseUrl: string }>(
  async (app, opts) => {
    const prisma = createPrisma(opts.databaseUrl);
    app.decorate("prisma", prisma);
    app.addHook("onClose", async () => {
      await prisma.$disconnect();
    });
  },
  { name: "prisma" },
);
