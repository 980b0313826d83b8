// API keys: `mf_` + 32 random bytes (base64url). Only the SHA-256 of a key is stored, so a database leak
// does not leak working keys; a key is shown once, when it is made. A fast hash is enough (unlike passwords):
// the key carries 256 bits of entropy, so there is nothing to brute-force.
import * as crypto from "node:crypto";
import type { PrismaClient } from "@prisma/client";

export const API_KEY_PREFIX = "mf_";
const KEY_SHAPE = /^mf_[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): string {
  return API_KEY_PREFIX + crypto.randomBytes(32).toString("base64url");
}

export function hashApiKey(key: string): string {
  // every /v1 request hashes its key: the one-shot crypto.hash (Node >= 20.12) costs a third of a Hash object
  return typeof crypto.hash === "function" ? crypto.hash("sha256", key, "hex") : crypto.createHash("sha256").update(key).digest("hex");
}

/** Whether a string has the shape of one of our keys (no database look-up for garbage). */
export function looksLikeApiKey(key: string): boolean {
  return KEY_SHAPE.test(key);
}

export interface CreatedKey {
  /** the key itself: shown once, never stored */
  key: string;
  keyId: string;
  tenantId: string;
  tenantName: string;
}

/** Makes a key for the tenant `tenantName`, creating the tenant if it does not exist. */
export async function createApiKey(prisma: PrismaClient, tenantName: string, name = "default"): Promise<CreatedKey> {
  const key = generateApiKey();
  const tenant = await prisma.tenant.upsert({ where: { name: tenantName }, update: {}, create: { name: tenantName } });
  const row = await prisma.apiKey.create({ data: { tenantId: tenant.id, name, prefix: key.slice(0, 11), hash: hashApiKey(key) } });
  return { key, keyId: row.id, tenantId: tenant.id, tenantName: tenant.name };
}

export interface KeyOwner {
  keyId: string;
  tenantId: string;
}

/** The live (not revoked) key with this hash, or null. */
export async function findApiKey(prisma: PrismaClient, hash: string): Promise<KeyOwner | null> {
  const row = await prisma.apiKey.findUnique({ where: { hash }, select: { id: true, tenantId: true, revokedAt: true } });
  return row && !row.revokedAt ? { keyId: row.id, tenantId: row.tenantId } : null;
}

export async function touchApiKey(prisma: PrismaClient, keyId: string): Promise<void> {
  await prisma.apiKey.update({ where: { id: keyId }, data: { lastUsedAt: new Date() } });
}
