// {checkpoint_id}: the files of an uploaded checkpoint, copied from storage into the job's folder with their
// sha256 checked against what the upload recorded.
import { join } from "node:path";
import type { PrismaClient } from "@prisma/client";
import { InvalidJobError } from "../../contract/errors.js";
import { BlobNotFoundError, type BlobStore } from "../../storage/index.js";
import { ByteBudget, folderDigest, safeRelativeName, writeStream, type StoredFile } from "../files.js";
import type { FetchedSource } from "./fetched.js";

interface CheckpointFileRow {
  name: string;
  bytes?: number;
  sha256?: string;
  storageKey: string;
}

export async function fetchCheckpoint(prisma: PrismaClient, store: BlobStore, checkpointId: string, tenantId: string | null, dir: string, budget: ByteBudget, signal?: AbortSignal): Promise<FetchedSource> {
  const row = await prisma.checkpoint.findUnique({ where: { id: checkpointId } });
  if (!row || (row.tenantId !== null && row.tenantId !== tenantId))
    throw new InvalidJobError("source_not_found", `checkpoint ${checkpointId} does not exist; upload it first (POST /v1/checkpoints)`);
  if (row.status !== "ready")
    throw new InvalidJobError("checkpoint_invalid", `checkpoint ${checkpointId} is ${row.status}${row.error ? ` (${row.error})` : ""}; only a ready checkpoint can be pruned`);
  const list = (Array.isArray(row.files) ? row.files : []) as unknown as CheckpointFileRow[];
  if (list.length === 0) throw new InvalidJobError("checkpoint_invalid", `checkpoint ${checkpointId} has no files`);
  const files: StoredFile[] = [];
  for (const f of list) {
    const name = typeof f.name === "string" ? safeRelativeName(f.name) : null;
    if (!name || typeof f.storageKey !== "string") throw new InvalidJobError("checkpoint_invalid", `checkpoint ${checkpointId} lists a bad file entry ${JSON.stringify(f.name)}`);
    let body;
    try {
      body = await store.get(f.storageKey);
    } catch (err) {
      if (err instanceof BlobNotFoundError) throw new InvalidJobError("checkpoint_invalid", `checkpoint ${checkpointId}: file ${name} is missing from storage; upload the checkpoint again`);
      throw err;
    }
    const got = await writeStream(body, join(dir, name), budget, signal);
    if (f.sha256 && got.sha256 !== f.sha256)
      throw new InvalidJobError("checkpoint_invalid", `checkpoint ${checkpointId}: file ${name} has sha256 ${got.sha256}, the upload recorded ${f.sha256}`);
    files.push({ name, ...got });
  }
  return { dir, files, sha256: row.sha256 ?? folderDigest(files), checkpointId, description: `checkpoint ${checkpointId}` };
}
