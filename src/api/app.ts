// The API application factory. Order matters, as in fastify/demo: external plugins (each owns one
// resource: db, queues, storage, docs) first, then app plugins that use them, then routes.
// Building is cheap (no connection is awaited), so tests build one app per file.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerOptions,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Config } from "../config.js";
import { genReqId, REQUEST_ID_HEADER } from "./request-id.js";
import { PROBLEM_CONTENT_TYPE, problemFor } from "./problem.js";
import { clientErrorHandler, onIdleSocket } from "./http-errors.js";
import { boundJsonDepth } from "./json-body.js";
import swaggerPlugin from "./plugins/external/swagger.js";
import prismaPlugin from "./plugins/external/prisma.js";
import queuesPlugin from "./plugins/external/queues.js";
import storagePlugin from "./plugins/external/storage.js";
import problemsPlugin from "./plugins/app/problems.js";
import healthRoutes from "./routes/health.js";
import metricsRoutes from "./routes/metrics.js";
import dashboardPlugin from "./dashboard/plugin.js";
import authPlugin from "./plugins/app/auth.js";
import webhooksPlugin from "./plugins/app/webhooks.js";
import jobCachePlugin from "./plugins/app/job-cache.js";
import v1SchemasPlugin from "./plugins/app/v1-schemas.js";
import artifactsRepository from "./plugins/app/artifacts-repository.js";
import checkpointsRepository from "./plugins/app/checkpoints-repository.js";
import filesRepository from "./plugins/app/files-repository.js";
import jobsRepository from "./plugins/app/jobs-repository.js";
import masksRepository from "./plugins/app/masks-repository.js";
import v1Routes, { type V1Options } from "./routes/v1/index.js";
import type { ReconnectDelays } from "../db/job-change-listener.js";

declare module "fastify" {
  interface FastifyInstance {
    config: Config;
  }
}

const PROBE_PATHS = new Set(["/healthz", "/readyz"]);

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface BuildAppOptions {
  /** Fastify logger option; default: pino at config.logLevel */
  logger?: FastifyServerOptions["logger"];
  /** do not open connections when ready, only on first use: for tools that only read the routes (OpenAPI) */
  lazy?: boolean;
  /** deadline of each /readyz check, ms */
  readinessTimeoutMs?: number;
  /** options of the /v1 routes (SSE poll and heartbeat intervals) */
  v1?: V1Options;
  /** reconnect delays of the job cache's LISTEN connection */
  jobCacheReconnect?: ReconnectDelays;
}

export async function buildApp(config: Config, opts: BuildAppOptions = {}): Promise<App> {
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    genReqId,
    requestIdHeader: false,
    // probes arrive every few seconds; their failures are logged by the checks themselves
    logController: new LogController({ requestIdLogLabel: "request_id", disableRequestLogging: (req) => PROBE_PATHS.has(req.url) }),
    ajv: { customOptions: { allErrors: true } },
    // slow or stalled clients must not hold sockets: headers, the whole request and idle sockets are timed
    requestTimeout: config.httpTimeouts.requestMs,
    http: {
      headersTimeout: config.httpTimeouts.headersMs,
      // how often node looks for requests over those timeouts
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(config.httpTimeouts.headersMs / 4))),
    },
    // bytes that are not HTTP, oversized headers, timeouts: answered as problem+json too
    clientErrorHandler,
    // errors raised before routing (a malformed URL) skip the error handler; answer them in the same shape
    frameworkErrors: (err, req, reply) => {
      const r = reply as FastifyReply;
      r.header(REQUEST_ID_HEADER, req.id);
      return r.code(400).type(PROBLEM_CONTENT_TYPE).send(problemFor(400, err.message, req));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate("config", config);
  // a request stalled mid-body gets a 408 problem; an idle keep-alive socket is closed
  app.server.setTimeout(config.httpTimeouts.idleMs, onIdleSocket);
  boundJsonDepth(app);
  // a callback hook: an async one would cost a promise on every request
  app.addHook("onRequest", (req, reply, done) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    done();
  });

  await app.register(swaggerPlugin);
  await app.register(prismaPlugin, { databaseUrl: config.databaseUrl });
  await app.register(queuesPlugin, { redisUrl: config.redisUrl, prefix: config.queuePrefix, connectOnReady: !opts.lazy });
  await app.register(storagePlugin, { storage: config.storage });

  // app plugins (services built on the resources above) go here, each `fp(..., { dependencies: [...] })`
  await app.register(problemsPlugin);
  await app.register(authPlugin);
  await app.register(webhooksPlugin);
  await app.register(jobCachePlugin, { listen: !opts.lazy, reconnect: opts.jobCacheReconnect });
  await app.register(v1SchemasPlugin);
  // a repository per resource owns its queries and compensations, so routes hold HTTP only
  await app.register(artifactsRepository);
  await app.register(checkpointsRepository);
  await app.register(filesRepository);
  await app.register(masksRepository);
  await app.register(jobsRepository);

  // route plugins; the jobs API registers its own under { prefix: "/v1" }
  await app.register(healthRoutes, { readinessTimeoutMs: opts.readinessTimeoutMs ?? 1500 });
  await app.register(metricsRoutes);
  // the web dashboard at / (static files calling /v1 with the user's key; hidden from the OpenAPI document)
  await app.register(dashboardPlugin);
  await app.register(v1Routes, { prefix: "/v1", ...opts.v1 });

  return app;
}
