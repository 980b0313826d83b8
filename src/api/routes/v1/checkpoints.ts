// /v1/checkpoints: upload a Hugging Face folder (the multipart parts, a folder's files or one .tar of it, stream
// into the checkpoints repository's upload session, which stores, caps and inspects them), list, read and delete.
// The checkpoint is ready when the upload answers 201; a refused upload leaves nothing behind. Every part is read
// to its end (or the request fails).
import type { Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { MAX_ARCHIVE_ENTRIES, tarEntries } from "../../../checkpoint/tar-entries.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { CheckpointListQuery, CheckpointPage, CheckpointUploadBody } from "../../../contract/api/checkpoints.js";
import { IdParams } from "../../../contract/api/common.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { listPage, notFound } from "./common.js";
import { UPLOAD_INVALID, uploadProblem } from "./upload-errors.js";
import { checkpointView } from "./views.js";

/** A tar's paths may sit under one top folder (`tar cf m.tar stories260K/`): strip it, refuse deeper ones. */
function tarFileName(path: string): string | null {
  const parts = path.replace(/^\.\//, "").split("/").filter(Boolean);
  if (parts.length === 0 || parts.some((p) => p.startsWith("._")) || parts[parts.length - 1] === ".DS_Store") return null;
  if (parts.length > 2) throw new HttpProblem(400, `tar entry ${JSON.stringify(path)} is nested too deep: archive one flat folder`, { type: PROBLEM_TYPES.validation });
  return parts[parts.length - 1];
}

/** Reads a stream to its end, discarding it (a part or entry that is not stored must still be consumed). */
async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream);
}

const checkpointsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = { file: app.config.limits.uploadFileBytes, total: app.config.limits.uploadTotalBytes };

  app.post(
    "/checkpoints",
    {
      schema: {
        tags: ["checkpoints"],
        summary: "Upload a Hugging Face checkpoint folder (multipart, streamed)",
        description: `Each file part is one file of the folder, named by its filename (config.json, model.safetensors or shards with model.safetensors.index.json, tokenizer files), or a single .tar part holding the folder. Limits: ${limits.file} bytes per file and ${limits.total} in all (defaults; set by MAX_UPLOAD_FILE_BYTES, MAX_UPLOAD_TOTAL_BYTES). The checkpoint is ready when the call returns; a bad upload is refused with nothing kept.`,
        consumes: ["multipart/form-data"],
        body: CheckpointUploadBody,
        response: { 201: Type.Ref("Checkpoint"), ...problemResponses(400, 401, 413, 415, 422, 429) },
      },
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw new HttpProblem(415, "send the checkpoint files as multipart/form-data");
      const upload = await app.checkpoints.upload(req.auth.tenantId, req.log);
      const store = async (name: string, stream: Readable, declared?: number) => {
        if (upload.has(name)) throw new HttpProblem(400, `file ${name} was sent twice`, { type: PROBLEM_TYPES.validation });
        if (upload.fileCount >= MAX_ARCHIVE_ENTRIES) throw new HttpProblem(400, `a checkpoint has at most ${MAX_ARCHIVE_ENTRIES} files`, { type: PROBLEM_TYPES.validation });
        await upload.store(name, stream, declared);
      };

      try {
        for await (const part of req.parts()) {
          if (part.type === "field") continue;
          const name = part.filename;
          if (name.toLowerCase().endsWith(".tar")) {
            if (upload.fileCount > 0) throw new HttpProblem(400, "send either the folder's files or one .tar, not both", { type: PROBLEM_TYPES.validation });
            for await (const entry of tarEntries(part.file)) {
              const entryName = tarFileName(entry.path);
              if (entryName) await store(entryName, entry.body, entry.size);
              else await drain(entry.body);
            }
            // tarEntries reads its input to the end; this is for a reader that stopped early all the same
            await drain(part.file);
            continue;
          }
          await store(name, part.file);
        }
        if (upload.fileCount === 0) throw new HttpProblem(400, "the upload has no files", { type: PROBLEM_TYPES.validation });
        const row = await upload.finish();
        if (!row) throw new HttpProblem(408, "the upload stalled for too long and was discarded; send it again", { type: UPLOAD_INVALID });
        return reply.code(201).header("location", `/v1/checkpoints/${upload.id}`).send(checkpointView(row));
      } catch (err) {
        await upload.discard();
        throw uploadProblem(err, limits) ?? err;
      } finally {
        upload.close();
      }
    },
  );

  app.get(
    "/checkpoints",
    { schema: { tags: ["checkpoints"], summary: "Your checkpoints, newest first", querystring: CheckpointListQuery, response: { 200: CheckpointPage, ...problemResponses(400, 401, 429) } } },
    async (req) => {
      const page = await listPage(() => app.checkpoints.list(req.auth.tenantId, req.query));
      return { items: page.items.map(checkpointView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/checkpoints/:id",
    { schema: { tags: ["checkpoints"], summary: "A checkpoint", params: IdParams, response: { 200: Type.Ref("Checkpoint"), ...problemResponses(400, 401, 404, 429) } } },
    async (req) => {
      const c = await app.checkpoints.get(req.auth.tenantId, req.params.id);
      if (!c) throw notFound("checkpoint", req.params.id);
      return checkpointView(c);
    },
  );

  app.delete(
    "/checkpoints/:id",
    {
      schema: {
        tags: ["checkpoints"],
        summary: "Delete a checkpoint and its files",
        description: "Refused (409) while a queued or running job uses it. Finished jobs keep their results.",
        params: IdParams,
        response: { 204: Type.Null({ description: "deleted" }), ...problemResponses(400, 401, 404, 409, 429) },
      },
    },
    async (req, reply) => {
      const r = await app.checkpoints.delete(req.auth.tenantId, req.params.id);
      if (r.outcome === "not_found") throw notFound("checkpoint", req.params.id);
      if (r.outcome === "in_use") throw new HttpProblem(409, `${r.jobs} queued or running job(s) use this checkpoint; cancel them first`, { type: "urn:maskforge:problem:checkpoint-in-use" });
      return reply.code(204).send(null);
    },
  );
};

export default checkpointsRoutes;
