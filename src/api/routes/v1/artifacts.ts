// Artifact downloads: the artifact must belong to the caller's tenant (through its job), else 404.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { IdParams } from "../../../contract/api/common.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { notFound } from "./common.js";
import { BLOB_RESPONSES, sendBlob } from "./send-blob.js";

const artifactsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/artifacts/:id/download",
    {
      schema: {
        tags: ["artifacts"],
        summary: "Download an artifact",
        params: IdParams,
        response: { ...BLOB_RESPONSES, ...problemResponses(400, 401, 404, 416, 429) },
      },
    },
    async (req, reply) => {
      const a = await app.artifacts.get(req.auth.tenantId, req.params.id);
      if (!a) throw notFound("artifact", req.params.id);
      return sendBlob(app.storage, req, reply, a.storageKey, a.name);
    },
  );
};

export default artifactsRoutes;
