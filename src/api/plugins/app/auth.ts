// API-key authentication for /v1: `Authorization: Bearer mf_...`. The key's SHA-256 is looked up (keys are
// never stored) and the answer cached briefly, so a busy client costs one hash per request, not one query;
// a revoked key therefore stops working within KEY_CACHE_MS. Every /v1 handler reads req.auth.tenantId and
// scopes its queries by it, so another tenant's object is simply not found (404), never forbidden (403).
import fp from "fastify-plugin";
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
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
    authenticate: (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
  }
}

const unauthorized = (detail: string) => new HttpProblem(401, detail, { type: "urn:maskforge:problem:unauthorized" });

interface CachedKey {
  auth: Auth;
  until: number;
  touched: number;
}

export default fp(
  async (app) => {
    const cache = new Map<string, CachedKey>();

    function admit(req: FastifyRequest, hit: CachedKey, now: number) {
      if (now - hit.touched > TOUCH_EVERY_MS) {
        hit.touched = now;
        touchApiKey(app.prisma, hit.auth.keyId).catch((err) => req.log.warn({ err }, "could not record key use"));
      }
      req.auth = hit.auth;
    }

    app.decorateRequest("auth", null as unknown as Auth);
    // a callback hook, not an async one: a cached key (nearly every request) is admitted without a promise
    app.decorate("authenticate", (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const header = req.headers.authorization;
      if (!header) {
        reply.header("www-authenticate", 'Bearer realm="maskforge"');
        return done(unauthorized("send your API key as Authorization: Bearer mf_..."));
      }
      const match = /^Bearer +(\S+)$/i.exec(header);
      if (!match || !looksLikeApiKey(match[1])) {
        reply.header("www-authenticate", 'Bearer realm="maskforge", error="invalid_token"');
        return done(unauthorized("the Authorization header must be Bearer followed by an mf_ API key"));
      }
      const keyHash = hashApiKey(match[1]);
      const now = Date.now();
      const hit = cache.get(keyHash);
      if (hit && hit.until >= now) {
        admit(req, hit, now);
        return done();
      }
      findApiKey(app.prisma, keyHash).then((owner) => {
        if (!owner) {
          cache.delete(keyHash);
          reply.header("www-authenticate", 'Bearer realm="maskforge", error="invalid_token"');
          return done(unauthorized("unknown or revoked API key"));
        }
        const fresh: CachedKey = { auth: { ...owner, keyHash }, until: now + KEY_CACHE_MS, touched: hit?.touched ?? 0 };
        cache.set(keyHash, fresh);
        if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
        admit(req, fresh, now);
        done();
      }, done);
    });
  },
  { name: "auth", dependencies: ["prisma"] },
);
