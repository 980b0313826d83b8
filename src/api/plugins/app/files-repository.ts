// Calibration and evaluation dataset files: rows in Postgres, bytes in the blob store under files/<id>. An upload
// that fails on the way is taken back whole.
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { DataFile } from "@prisma/client";
import { pageArgs, toPage, type PageOptions } from "../../../db/page.repository.js";
import { dataFileKey } from "../../../storage/index.js";

export interface FileUpload {
  readonly id: string;
  /** streams the text into storage (at most the per-file limit) and records it */
  store(file: { name: string; purpose: string; body: Readable }): Promise<DataFile>;
  /** takes back whatever was stored: the blob and the row (an upload that failed leaves nothing) */
  discard(): Promise<void>;
}

export function createFilesRepository(app: FastifyInstance) {
  return {
    /** A new upload of one file for the tenant; the caller stores it, or discards it on any failure. */
    upload(tenantId: string): FileUpload {
      const id = randomUUID();
      const key = dataFileKey(id);
      return {
        id,
        async store({ name, purpose, body }) {
          const put = await app.storage.put(key, body, { maxBytes: app.config.limits.uploadFileBytes, contentType: name.toLowerCase().endsWith(".parquet") ? "application/vnd.apache.parquet" : "text/plain; charset=utf-8" });
          return app.prisma.dataFile.create({ data: { id, tenantId, name, purpose, storageKey: key, bytes: BigInt(put.bytes), sha256: put.sha256 } });
        },
        async discard() {
          await app.storage.delete(key).catch(() => {});
          await app.prisma.dataFile.deleteMany({ where: { id } }).catch(() => {});
        },
      };
    },
    /** a page of the tenant's files, newest first; throws InvalidCursorError on a cursor we did not hand out */
    async list(tenantId: string, query: PageOptions): Promise<{ items: DataFile[]; nextCursor: string | null }> {
      const { take, where, orderBy } = pageArgs(query);
      const rows = await app.prisma.dataFile.findMany({ where: { tenantId, ...where }, orderBy, take: take + 1 });
      return toPage(rows, take);
    },
    /** which of these file ids the tenant has (another tenant's read as missing) */
    async existing(tenantId: string, ids: string[]): Promise<Set<string>> {
      return new Set((await app.prisma.dataFile.findMany({ where: { id: { in: ids }, tenantId }, select: { id: true } })).map((f) => f.id));
    },
  };
}

export type FilesRepository = ReturnType<typeof createFilesRepository>;

declare module "fastify" {
  interface FastifyInstance {
    files: FilesRepository;
  }
}

export default fp(
  async (app) => {
    app.decorate("files", createFilesRepository(app));
  },
  { name: "files-repository", dependencies: ["prisma", "storage"] },
);
