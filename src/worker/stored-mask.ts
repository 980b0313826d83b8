// A MaskLLM job's prior given as {mask_id}: the hard mask an earlier job stored, found in the mask catalogue (the
// tenant's own, or a shared one) and read from storage. Every way it cannot serve is the user's to fix.
import { InvalidJobError } from "../contract/errors.js";
import { decodeMaskNpz } from "../checkpoint/mask-npz.js";
import { BlobNotFoundError } from "../storage/index.js";
import { readBlob } from "./files.js";
import type { JobIoContext } from "./job-io-context.js";

/** The stored mask `maskId` for the weights in `numel` (name → element count), checked against the job's pattern. */
export async function loadStoredMask(maskId: string, pattern: string, numel: Map<string, number>, ctx: Pick<JobIoContext, "prisma" | "store" | "tenantId">): Promise<Map<string, Uint8Array>> {
  const row = await ctx.prisma.maskArtifact.findUnique({ where: { id: maskId } });
  if (!row || (row.tenantId !== null && row.tenantId !== ctx.tenantId)) throw new InvalidJobError("mask_incompatible", `mask ${maskId} does not exist`);
  if (row.pattern !== pattern) throw new InvalidJobError("mask_incompatible", `mask ${maskId} is ${row.pattern}, the job asks for ${pattern}`);
  if (!row.npzKey) throw new InvalidJobError("mask_incompatible", `mask ${maskId} has no stored hard mask`);
  let bytes: Uint8Array;
  try {
    bytes = await readBlob(ctx.store, row.npzKey);
  } catch (err) {
    if (err instanceof BlobNotFoundError) throw new InvalidJobError("mask_incompatible", `mask ${maskId}'s file is missing from storage`);
    throw err;
  }
  try {
    return decodeMaskNpz(bytes, numel, { require: true });
  } catch (err) {
    throw new InvalidJobError("mask_incompatible", `mask ${maskId} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
}
