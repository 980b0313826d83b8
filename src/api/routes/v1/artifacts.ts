// Artifact and mask downloads: the object must belong to the caller's tenant (through its job), else 404.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { toPage } from "../../../db/page.repository.js";
import { HttpProblem } from "../../problem.js";
import { IdParams } from "../../schemas/common.js";
import { MaskDownloadQuery, MaskListQuery, MaskPage } from "../../schemas/masks.js";
import { problemResponses } from "../../schemas/problem.js";
import { listPage, notFound } from "./common.js";
import { sendBlob } from "./send-blob.js";
import { maskView } from "./views.js";

const download = {
  200: { description: "the file (local storage); 206 for a Range request", content: { "application/octet-stream": { schema: Type.String({ format: "binary" }) } } },
  206: { description: "the requested byte range (local storage)", content: { "application/octet-stream": { schema: Type.String({ format: "binary" }) } } },
  302: { description: "S3 storage: redirect to a presigned URL valid for 5 minutes", content: { "text/plain": { schema: Type.String() } } },
};

const artifactsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/artifacts/:id/download",
    {
      schema: {
        tags: ["artifacts"],
        summary: "Download an artifact",
        params: IdParams,
        response: { ...download, ...problemResponses(400, 401, 404, 416, 429) },
      },
    },
    async (req, reply) => {
      const a = await app.prisma.artifact.findFirst({ where: { id: req.params.id, job: { tenantId: req.auth.tenantId } } });
      if (!a) throw notFound("artifact", req.params.id);
      return sendBlob(app.storage, req, reply, a.storageKey, a.name);
    },
  );

  app.get(
    "/masks",
    { schema: { tags: ["masks"], summary: "Your mask catalogue, newest first", querystring: MaskListQuery, response: { 200: MaskPage, ...problemResponses(400, 401, 429) } } },
    async (req) => {
      const { take, where, orderBy } = listPage(req.query);
      const rows = await app.prisma.maskArtifact.findMany({ where: { tenantId: req.auth.tenantId, ...(req.query.pattern ? { pattern: req.query.pattern } : {}), ...where }, orderBy, take: take + 1 });
      const page = toPage(rows, take);
      return { items: page.items.map(maskView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/masks/:id",
    { schema: { tags: ["masks"], summary: "A mask: pattern, base checkpoint, metrics and lineage", params: IdParams, response: { 200: Type.Ref("Mask"), ...problemResponses(400, 401, 404, 429) } } },
    async (req) => {
      const m = await app.prisma.maskArtifact.findFirst({ where: { id: req.params.id, tenantId: req.auth.tenantId } });
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
        response: { ...download, ...problemResponses(400, 401, 404, 416, 429) },
      },
    },
    async (req, reply) => {
      const m = await app.prisma.maskArtifact.findFirst({ where: { id: req.params.id, tenantId: req.auth.tenantId } });
      if (!m) throw notFound("mask", req.params.id);
      const format = req.query.format ?? "npz";
      const key = format === "npz" ? m.npzKey : m.logitsKey;
      if (!key) throw new HttpProblem(404, `mask ${m.id} has no ${format} form (${m.method} masks may carry no logits)`);
      return sendBlob(app.storage, req, reply, key, `mask-${m.id}${format === "npz" ? ".npz" : "-logits.safetensors"}`);
    },
  );
};

export default artifactsRoutes;
