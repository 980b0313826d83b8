// API-key authentication for /v1: `Authorization: Bearer mf_...`. The key's SHA-256 is looked up (keys are
// never stored) and the answer cached briefly, so a busy client costs one hash per request, not one query;
// a revoked key therefore stops working within KEY_CACHE_MS. Every /v1 handler reads req.auth.tenantId and
// scopes its queries by it, so another tenant's object is simply not found (404), never forbidden (403).
import fp from "fastify-plugin";
import type { FastifyReply, FastifyRequest } from "fastify";
import { findApiKey, hashApiKey, looksLikeApiKey, touchApiKey, type KeyOwner } from "../../../db/api-keys.js";
import { HttpProblem } from "../../problem.js";

export const KEY_CACHE_MS = 10_000;
const TOUCH_EVERY_MS = 60_000;

export interface Auth extends KeyOwner {
  /** sha256 of the key: the rate limiter's bucket */
  keyHash: string;
}

declare module "fastify" {
  interface FastifyRequest {
    auth: Auth;
  }
  interface FastifyInstance {
    /** onRequest hook that sets req.auth or answers 401 */
    authenticate: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
}

const unauthorized = (detail: string) => new HttpProblem(401, detail, { type: "urn:maskforge:problem:unauthorized" });

export default fp(
  async (app) => {
    const cache = new Map<string, { owner: KeyOwner; until: number; touched: number }>();
    app.decorateRequest("auth", null as unknown as Auth);
    app.decorate("authenticate", async (req: FastifyRequest, reply: FastifyReply) => {
      const header = req.headers.authorization;
      if (!header) {
        reply.header("www-authenticate", 'Bearer realm="maskforge"');
        throw unauthorized("send your API key as Authorization: Bearer mf_...");
      }
      const match = /^Bearer +(\S+)$/i.exec(header);
      if (!match || !looksLikeApiKey(match[1])) {
        reply.header("www-authenticate", 'Bearer realm="maskforge", error="invalid_token"');
        throw unauthorized("the Authorization header must be Bearer followed by an mf_ API key");
      }
      const keyHash = hashApiKey(match[1]);
      const now = Date.now();
      let hit = cache.get(keyHash);
      if (!hit || hit.until < now) {
        const owner = await findApiKey(app.prisma, keyHash);
        if (!owner) {
          cache.delete(keyHash);
          reply.header("www-authenticate", 'Bearer realm="maskforge", error="invalid_token"');
          throw unauthorized("unknown or revoked API key");
        }
        hit = { owner, until: now + KEY_CACHE_MS, touched: hit?.touched ?? 0 };
        cache.set(keyHash, hit);
        if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
      }
      if (now - hit.touched > TOUCH_EVERY_MS) {
        hit.touched = now;
        touchApiKey(app.prisma, hit.owner.keyId).catch((err) => req.log.warn({ err }, "could not record key use"));
      }
      req.auth = { ...hit.owner, keyHash };
    });
  },
  { name: "auth", dependencies: ["prisma"] },
);
