// Checkpoint uploads: the multipart parts (a Hugging Face folder's files, or one .tar of it) stream straight
// into storage under checkpoints/<id>/, hashed and size-checked on the way, while validate-upload keeps just
// the safetensors headers and the JSON files. The row exists as `uploading` meanwhile; it becomes `ready` when
// every check passed. Any failure removes the stored files and the row, so a bad upload leaves nothing behind.
// Every part is read to its end (or the request fails), the caps are checked before a file is written, and the
// row is touched while bytes arrive: one left `uploading` by a vanished API process is removed by the worker's
// reconciler once it is older than UPLOAD_STALE_AFTER_MS.
import { randomUUID, createHash } from "node:crypto";
import { pipeline, type Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Prisma } from "@prisma/client";
import { Type } from "typebox";
import { MAX_ARCHIVE_ENTRIES, tarEntries } from "../../../checkpoint/tar-entries.js";
import { inspectorFor, validateCheckpointFiles, type InspectedFile } from "../../../checkpoint/validate-upload.js";
import { toPage } from "../../../db/page.repository.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { CheckpointListQuery, CheckpointPage, CheckpointUploadBody } from "../../schemas/checkpoints.js";
import { IdParams } from "../../schemas/common.js";
import { problemResponses } from "../../schemas/problem.js";
import { listPage, notFound } from "./common.js";
import { UPLOAD_INVALID, uploadProblem } from "./upload-errors.js";
import { BlobTooLargeError } from "../../../storage/index.js";
import { checkpointView } from "./views.js";

interface StoredFile {
  name: string;
  bytes: number;
  sha256: string;
  storageKey: string;
}

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
      const id = randomUUID();
      const prefix = `checkpoints/${id}/`;
      await app.prisma.checkpoint.create({ data: { id, tenantId: req.auth.tenantId, source: { type: "upload" }, status: "uploading" } });
      const stored: StoredFile[] = [];
      const inspected: InspectedFile[] = [];
      let total = 0;
      // the reconciler takes an `uploading` row nobody touched for uploadStaleAfterMs for abandoned
      const heartbeat = setInterval(() => {
        app.prisma.checkpoint.updateMany({ where: { id, status: "uploading" }, data: { updatedAt: new Date() } }).catch((e) => req.log.warn({ err: e, checkpointId: id }, "could not touch an upload's row"));
      }, Math.max(250, Math.floor(app.config.uploadStaleAfterMs / 4)));

      const store = async (name: string, stream: Readable, declared?: number) => {
        const inspector = inspectorFor(name);
        if (stored.some((f) => f.name === name)) throw new HttpProblem(400, `file ${name} was sent twice`, { type: PROBLEM_TYPES.validation });
        if (stored.length >= MAX_ARCHIVE_ENTRIES) throw new HttpProblem(400, `a checkpoint has at most ${MAX_ARCHIVE_ENTRIES} files`, { type: PROBLEM_TYPES.validation });
        const maxBytes = Math.min(limits.file, limits.total - total);
        // a tar entry says its size up front: refuse it before writing a byte
        if (declared !== undefined && declared > maxBytes) throw new BlobTooLargeError(prefix + name, maxBytes);
        const body = pipeline(stream, inspector, () => {});
        const put = await app.storage.put(prefix + name, body, { maxBytes, contentType: "application/octet-stream", metadata: { checkpoint: id } });
        total += put.bytes;
        inspected.push(inspector.result());
        stored.push({ name, bytes: put.bytes, sha256: put.sha256, storageKey: put.key });
      };

      try {
        for await (const part of req.parts()) {
          if (part.type === "field") continue;
          const name = part.filename;
          if (name.toLowerCase().endsWith(".tar")) {
            if (stored.length > 0) throw new HttpProblem(400, "send either the folder's files or one .tar, not both", { type: PROBLEM_TYPES.validation });
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
        if (stored.length === 0) throw new HttpProblem(400, "the upload has no files", { type: PROBLEM_TYPES.validation });
        const valid = validateCheckpointFiles(inspected);
        const sha256 = createHash("sha256")
          .update(
            [...stored]
              .sort((a, b) => (a.name < b.name ? -1 : 1))
              .map((f) => `${f.name}\t${f.sha256}\n`)
              .join(""),
          )
          .digest("hex");
        // conditional: the reconciler may have taken a stalled upload for abandoned meanwhile
        const claimed = await app.prisma.checkpoint.updateMany({
          where: { id, status: "uploading" },
          data: { status: "ready", files: stored as unknown as Prisma.InputJsonValue, bytes: BigInt(total), sha256, architecture: valid.architecture, config: valid.config as Prisma.InputJsonValue },
        });
        if (claimed.count !== 1) throw new HttpProblem(408, "the upload stalled for too long and was discarded; send it again", { type: UPLOAD_INVALID });
        const row = await app.prisma.checkpoint.findUniqueOrThrow({ where: { id } });
        return reply.code(201).header("location", `/v1/checkpoints/${id}`).send(checkpointView(row));
      } catch (err) {
        await app.storage.deletePrefix(prefix).catch((e) => req.log.error({ err: e, checkpointId: id }, "could not remove the files of a refused upload"));
        await app.prisma.checkpoint.delete({ where: { id } }).catch((e) => req.log.error({ err: e, checkpointId: id }, "could not remove a refused upload's row"));
        throw uploadProblem(err, limits) ?? err;
      } finally {
        clearInterval(heartbeat);
      }
    },
  );

  app.get(
    "/checkpoints",
    { schema: { tags: ["checkpoints"], summary: "Your checkpoints, newest first", querystring: CheckpointListQuery, response: { 200: CheckpointPage, ...problemResponses(400, 401, 429) } } },
    async (req) => {
      const { take, where, orderBy } = listPage(req.query);
      const rows = await app.prisma.checkpoint.findMany({ where: { tenantId: req.auth.tenantId, ...(req.query.status ? { status: req.query.status } : {}), ...where }, orderBy, take: take + 1 });
      const page = toPage(rows, take);
      return { items: page.items.map(checkpointView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/checkpoints/:id",
    { schema: { tags: ["checkpoints"], summary: "A checkpoint", params: IdParams, response: { 200: Type.Ref("Checkpoint"), ...problemResponses(400, 401, 404, 429) } } },
    async (req) => {
      const c = await app.prisma.checkpoint.findFirst({ where: { id: req.params.id, tenantId: req.auth.tenantId } });
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
      const c = await app.prisma.checkpoint.findFirst({ where: { id: req.params.id, tenantId: req.auth.tenantId }, select: { id: true } });
      if (!c) throw notFound("checkpoint", req.params.id);
      const busy = await app.prisma.job.count({ where: { checkpointId: c.id, status: { in: ["queued", "running"] } } });
      if (busy > 0) throw new HttpProblem(409, `${busy} queued or running job(s) use this checkpoint; cancel them first`, { type: "urn:maskforge:problem:checkpoint-in-use" });
      await app.storage.deletePrefix(`checkpoints/${c.id}/`);
      await app.prisma.checkpoint.delete({ where: { id: c.id } });
      return reply.code(204).send(null);
    },
  );
};

export default checkpointsRoutes;
