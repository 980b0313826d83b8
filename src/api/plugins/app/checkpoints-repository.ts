// Uploaded checkpoints: rows in Postgres, files in the blob store under checkpoints/<id>/. An upload is a
// session: its row exists as `uploading` from the start and is touched while bytes arrive (the worker's
// reconciler removes one nobody touched for uploadStaleAfterMs), each file is size-capped, hashed and
// inspected on its way into storage, and the row becomes `ready` only once the whole folder passed its checks.
// A failed upload is discarded whole: its files and its row.
import { createHash, randomUUID } from "node:crypto";
import { pipeline, type Readable } from "node:stream";
import fp from "fastify-plugin";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { Prisma, type Checkpoint } from "@prisma/client";
import { inspectorFor, validateCheckpointFiles, type InspectedFile } from "../../../checkpoint/validate-upload.js";
import { pageArgs, toPage, type PageOptions } from "../../../db/page.repository.js";
import { BlobTooLargeError, checkpointFileKey, checkpointPrefix } from "../../../storage/index.js";

interface StoredFile {
  name: string;
  bytes: number;
  sha256: string;
  storageKey: string;
}

export interface CheckpointUpload {
  readonly id: string;
  /** files stored so far */
  readonly fileCount: number;
  has(name: string): boolean;
  /** streams one file into storage within the per-file and total caps; `declaredBytes` (a tar entry's) is refused before a byte is written */
  store(name: string, body: Readable, declaredBytes?: number): Promise<void>;
  /** checks the folder as a whole and marks it ready; null when the reconciler took the stalled upload meanwhile */
  finish(): Promise<Checkpoint | null>;
  /** takes back the stored files and the row */
  discard(): Promise<void>;
  /** stops touching the row (call it whatever the outcome) */
  close(): void;
}

export function createCheckpointsRepository(app: FastifyInstance) {
  const limits = { file: app.config.limits.uploadFileBytes, total: app.config.limits.uploadTotalBytes };

  return {
    /** Starts an upload for the tenant: the `uploading` row is created now. */
    async upload(tenantId: string, log: FastifyBaseLogger): Promise<CheckpointUpload> {
      const id = randomUUID();
      await app.prisma.checkpoint.create({ data: { id, tenantId, source: { type: "upload" }, status: "uploading" } });
      const stored: StoredFile[] = [];
      const inspected: InspectedFile[] = [];
      let total = 0;
      // the reconciler takes an `uploading` row nobody touched for uploadStaleAfterMs for abandoned
      const heartbeat = setInterval(() => {
        app.prisma.checkpoint.updateMany({ where: { id, status: "uploading" }, data: { updatedAt: new Date() } }).catch((e) => log.warn({ err: e, checkpointId: id }, "could not touch an upload's row"));
      }, Math.max(250, Math.floor(app.config.uploadStaleAfterMs / 4)));

      return {
        id,
        get fileCount() {
          return stored.length;
        },
        has: (name) => stored.some((f) => f.name === name),
        async store(name, body, declaredBytes) {
          const inspector = inspectorFor(name);
          const maxBytes = Math.min(limits.file, limits.total - total);
          if (declaredBytes !== undefined && declaredBytes > maxBytes) throw new BlobTooLargeError(checkpointFileKey(id, name), maxBytes);
          const put = await app.storage.put(checkpointFileKey(id, name), pipeline(body, inspector, () => {}), { maxBytes, contentType: "application/octet-stream", metadata: { checkpoint: id } });
          total += put.bytes;
          inspected.push(inspector.result());
          stored.push({ name, bytes: put.bytes, sha256: put.sha256, storageKey: put.key });
        },
        async finish() {
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
          if (claimed.count !== 1) return null;
          return app.prisma.checkpoint.findUniqueOrThrow({ where: { id } });
        },
        async discard() {
          await app.storage.deletePrefix(checkpointPrefix(id)).catch((e) => log.error({ err: e, checkpointId: id }, "could not remove the files of a refused upload"));
          await app.prisma.checkpoint.delete({ where: { id } }).catch((e) => log.error({ err: e, checkpointId: id }, "could not remove a refused upload's row"));
        },
        close: () => clearInterval(heartbeat),
      };
    },

    /** a page of the tenant's checkpoints, newest first; throws InvalidCursorError on a cursor we did not hand out */
    async list(tenantId: string, query: PageOptions & { status?: Checkpoint["status"] }): Promise<{ items: Checkpoint[]; nextCursor: string | null }> {
      const { take, where, orderBy } = pageArgs(query);
      const rows = await app.prisma.checkpoint.findMany({ where: { tenantId, ...(query.status ? { status: query.status } : {}), ...where }, orderBy, take: take + 1 });
      return toPage(rows, take);
    },

    /** the tenant's checkpoint (null: missing or another tenant's) */
    get(tenantId: string, id: string): Promise<Checkpoint | null> {
      return app.prisma.checkpoint.findFirst({ where: { id, tenantId } });
    },

    /** Deletes the tenant's checkpoint with its files, unless queued or running jobs still use it. */
    async delete(tenantId: string, id: string): Promise<{ outcome: "deleted" } | { outcome: "not_found" } | { outcome: "in_use"; jobs: number }> {
      const c = await app.prisma.checkpoint.findFirst({ where: { id, tenantId }, select: { id: true } });
      if (!c) return { outcome: "not_found" };
      const busy = await app.prisma.job.count({ where: { checkpointId: c.id, status: { in: ["queued", "running"] } } });
      if (busy > 0) return { outcome: "in_use", jobs: busy };
      await app.storage.deletePrefix(checkpointPrefix(c.id));
      await app.prisma.checkpoint.delete({ where: { id: c.id } });
      return { outcome: "deleted" };
    },
  };
}

export type CheckpointsRepository = ReturnType<typeof createCheckpointsRepository>;

declare module "fastify" {
  interface FastifyInstance {
    checkpoints: CheckpointsRepository;
  }
}

export default fp(
  async (app) => {
    app.decorate("checkpoints", createCheckpointsRepository(app));
  },
  { name: "checkpoints-repository", dependencies: ["prisma", "storage"] },
);
