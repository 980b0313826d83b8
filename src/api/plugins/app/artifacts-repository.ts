// The artifacts a job stored, as the API reads them. An artifact belongs to a tenant through its job.
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { Artifact } from "@prisma/client";

export function createArtifactsRepository(app: FastifyInstance) {
  return {
    /** the tenant's artifact (null: missing or another tenant's) */
    get(tenantId: string, id: string): Promise<Artifact | null> {
      return app.prisma.artifact.findFirst({ where: { id, job: { tenantId } } });
    },
    /** every artifact of a job, oldest first (snapshots included) */
    ofJob(jobId: string): Promise<Artifact[]> {
      return app.prisma.artifact.findMany({ where: { jobId }, orderBy: { createdAt: "asc" } });
    },
  };
}

export type ArtifactsRepository = ReturnType<typeof createArtifactsRepository>;

declare module "fastify" {
  interface FastifyInstance {
    artifacts: ArtifactsRepository;
  }
}

export default fp(
  async (app) => {
    app.decorate("artifacts", createArtifactsRepository(app));
  },
  { name: "artifacts-repository", dependencies: ["prisma"] },
);
