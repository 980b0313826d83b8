// The /v1 API: every route needs an API key (401 otherwise), is rate-limited per key (429 with RateLimit
// headers; counted per process or in Redis, see RATE_LIMIT_STORE), and sees only its tenant's objects. Order
// matters: authentication is a scope-level onRequest hook, so it runs before the rate limiter's route-level one,
// which buckets by the key's hash.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import multipart from "@fastify/multipart";
import rateLimit from "@fastify/rate-limit";
import { HttpProblem } from "../../problem.js";
import artifactsRoutes from "./artifacts.js";
import checkpointsRoutes from "./checkpoints.js";
import eventsRoutes, { type EventsRoutesOptions } from "./events.js";
import filesRoutes from "./files.js";
import jobsRoutes from "./jobs.js";
import masksRoutes from "./masks.js";

export interface V1Options {
  events?: EventsRoutesOptions;
}

const v1Routes: FastifyPluginAsyncTypebox<V1Options> = async (app, opts) => {
  app.addHook("onRequest", app.authenticate);
  await app.register(rateLimit, {
    global: true,
    max: app.config.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => req.auth.keyHash,
    // memory (default): the plugin's in-process LRU, no round trip, but each API process counts on its own;
    // redis: one count shared by every replica, at one Redis EVAL per request
    ...(app.config.rateLimitStore === "redis" ? { redis: app.redis, nameSpace: `${app.config.queuePrefix}:ratelimit:` } : {}),
    // a Redis outage must not take the API down with it
    skipOnError: true,
    enableDraftSpec: true,
    errorResponseBuilder: (_req, ctx) =>
      new HttpProblem(429, `rate limit of ${ctx.max} requests per minute for this key exceeded; retry in ${Math.ceil(ctx.ttl / 1000)} s`, { type: "urn:maskforge:problem:rate-limited" }),
  });
  await app.register(jobsRoutes);
  await app.register(eventsRoutes, opts.events ?? {});
  await app.register(artifactsRoutes);
  await app.register(masksRoutes);
  // multipart only in the scope of the upload routes: its hooks (a close listener and a clean-up on every
  // response) would otherwise run on every /v1 request, the polled GET /v1/jobs/:id among them
  await app.register(async (uploads) => {
    await uploads.register(multipart, {
      // the per-file and total limits are enforced while storing (a .tar part may hold the whole folder)
      // (a .tar part adds its headers and record padding on top of the files it holds)
      limits: { fileSize: app.config.limits.uploadTotalBytes + 1024 * 1024, files: 1000, fields: 20, fieldSize: 1024, parts: 1020, headerPairs: 100 },
    });
    await uploads.register(checkpointsRoutes);
    await uploads.register(filesRoutes);
  });
};

export default v1Routes;
