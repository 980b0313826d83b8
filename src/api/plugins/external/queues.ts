// Owns the producer side of both BullMQ queues (prune jobs, webhook deliveries) and their Redis connection;
// their names and job options are the contract's (src/contract/queues.ts, src/contract/webhook.ts).
// The API must fail fast when Redis is gone (a request gets an error, readyz says "not ready") instead of
// queueing commands in memory and hanging: no offline queue, one retry per command, a short connect timeout.
// The connection keeps retrying in the background, so the API recovers on its own when Redis comes back.
import fp from "fastify-plugin";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QUEUE_NAMES } from "../../../contract/queues.js";

export interface Queues {
  /** one BullMQ job per maskforge Job row */
  prune: Queue;
  /** deliveries for the status changes the API makes itself (cancelling a queued job); the worker adds the rest */
  webhooks: Queue;
}

declare module "fastify" {
  interface FastifyInstance {
    /** the API's Redis connection (shared by its queues); commands fail at once while Redis is unreachable */
    redis: Redis;
    queues: Queues;
  }
}

export interface QueuesPluginOptions {
  redisUrl: string;
  prefix: string;
  /** open the connection when the app is ready (false: only on first use, for tools that never touch Redis) */
  connectOnReady: boolean;
}

/**
 * PING with fail-fast semantics that still tolerate start-up: while the first connection attempt is in flight
 * it waits for that attempt (ready or refused) instead of failing at once for lack of an offline queue.
 */
export async function pingRedis(redis: Redis): Promise<void> {
  if (redis.status === "wait") redis.connect().catch(() => {});
  if (redis.status === "connecting" || redis.status === "connect") {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        redis.off("ready", done);
        redis.off("error", done);
        if (err) reject(err);
        else resolve();
      };
      redis.once("ready", done);
      redis.once("error", done);
    });
  }
  await redis.ping();
}

export default fp<QueuesPluginOptions>(
  async (app, opts) => {
    const redis = new Redis(opts.redisUrl, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    // ioredis emits an error on every failed reconnect; log the first of an outage, not one every two seconds
    let down = false;
    redis.on("error", (err) => {
      if (down) return;
      down = true;
      app.log.warn({ err }, "redis unreachable; retrying in the background");
    });
    redis.on("ready", () => {
      if (down) app.log.info("redis reachable again");
      down = false;
    });

    // Built on first use: constructing a BullMQ Queue opens the connection, which tools like the
    // OpenAPI generator never need. Once connected, commands fail at once while Redis is down; but until the
    // first connection succeeds BullMQ waits for it, so producers should bound calls with withDeadline().
    const built: Partial<Queues> = {};
    const queue = (name: keyof Queues) => {
      const q = new Queue(QUEUE_NAMES[name], { connection: redis, prefix: opts.prefix });
      q.on("error", () => {}); // the connection's own error listener above already reports it
      return q;
    };
    const queues: Queues = {
      get prune() {
        return (built.prune ??= queue("prune"));
      },
      get webhooks() {
        return (built.webhooks ??= queue("webhooks"));
      },
    };
    app.decorate("redis", redis);
    app.decorate("queues", queues);

    if (opts.connectOnReady) {
      // not awaited: start-up must not wait for (or fail on) Redis; readyz reports it instead
      app.addHook("onReady", async () => {
        redis.connect().catch(() => {});
      });
    }
    app.addHook("onClose", async () => {
      await Promise.all(Object.values(built).map((q) => q.close()));
      redis.disconnect();
    });
  },
  { name: "queues" },
);
