// /v1/masks: the tenant's mask catalogue (one entry per mask a job learned, with its lineage) and the mask
// files. Another tenant's mask reads as missing (404).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { HttpProblem } from "../../problem.js";
import { IdParams } from "../../../contract/api/common.js";
import { MaskDownloadQuery, MaskListQuery, MaskPage } from "../../../contract/api/masks.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { listPage, notFound } from "./common.js";
import { BLOB_RESPONSES, sendBlob } from "./send-blob.js";
import { maskView } from "./views.js";

const masksRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/masks",
    { schema: { tags: ["masks"], summary: "Your mask catalogue, newest first", querystring: MaskListQuery, response: { 200: MaskPage, ...problemResponses(400, 401, 429) } } },
    async (req) => {
      const page = await listPage(() => app.masks.list(req.auth.tenantId, req.query));
      return { items: page.items.map(maskView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/masks/:id",
    { schema: { tags: ["masks"], summary: "A mask: pattern, base checkpoint, metrics and lineage", params: IdParams, response: { 200: Type.Ref("Mask"), ...problemResponses(400, 401, 404, 429) } } },
    async (req) => {
      const m = await app.masks.get(req.auth.tenantId, req.params.id);
      if (!m) throw notFound("mask", req.params.id);
      return maskView(m);
    },
  );

  app.get(
    "/masks/:id/download",
    {
      schema: {
        tags: ["masks"],
        summary: "Download a mask as bit-packed npz or as learned logits (safetensors)",
        params: IdParams,
        querystring: MaskDownloadQuery,
        response: { ...BLOB_RESPONSES, ...problemResponses(400, 401, 404, 416, 429) },
      },
    },
    async (req, reply) => {
      const m = await app.masks.get(req.auth.tenantId, req.params.id);
      if (!m) throw notFound("mask", req.params.id);
      const format = req.query.format ?? "npz";
      const key = format === "npz" ? m.npzKey : m.logitsKey;
      if (!key) throw new HttpProblem(404, `mask ${m.id} has no ${format} form (${m.method} masks may carry no logits)`);
      return sendBlob(app.storage, req, reply, key, `mask-${m.id}${format === "npz" ? ".npz" : "-logits.safetensors"}`);
    },
  );
};

export default masksRoutes;
