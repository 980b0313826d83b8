// The mask catalogue as the API reads it: a tenant's masks, newest first. The worker writes them.
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { MaskArtifact } from "@prisma/client";
import { pageArgs, toPage, type PageOptions } from "../../../db/page.repository.js";

export function createMasksRepository(app: FastifyInstance) {
  return {
    /** a page of the tenant's masks, newest first; throws InvalidCursorError on a cursor we did not hand out */
    async list(tenantId: string, query: PageOptions & { pattern?: string }): Promise<{ items: MaskArtifact[]; nextCursor: string | null }> {
      const { take, where, orderBy } = pageArgs(query);
      const rows = await app.prisma.maskArtifact.findMany({ where: { tenantId, ...(query.pattern ? { pattern: query.pattern } : {}), ...where }, orderBy, take: take + 1 });
      return toPage(rows, take);
    },
    /** the tenant's mask (null: missing or another tenant's) */
    get(tenantId: string, id: string): Promise<MaskArtifact | null> {
      return app.prisma.maskArtifact.findFirst({ where: { id, tenantId } });
    },
  };
}

export type MasksRepository = ReturnType<typeof createMasksRepository>;

declare module "fastify" {
  interface FastifyInstance {
    masks: MasksRepository;
  }
}

export default fp(
  async (app) => {
    app.decorate("masks", createMasksRepository(app));
  },
  { name: "masks-repository", dependencies: ["prisma"] },
);
