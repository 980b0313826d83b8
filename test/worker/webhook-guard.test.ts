// Webhook delivery goes through the sources' SSRF guard: a webhook worker on real Redis refuses loopback names
// and addresses, and a name that resolves to the metadata address, before any connection (no retries); it
// connects to exactly the address the guard checked, and follows no redirect. Only loopback is ever contacted.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { lookup as dnsLookup } from "node:dns/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test, type TestContext } from "node:test";
import { Queue, type Job as BullJob } from "bullmq";
import { QUEUE_NAMES } from "../../src/contract/queues.js";
import { generateWebhookSecret, WEBHOOK_DELIVERY_OPTIONS } from "../../src/contract/webhook.js";
import { startWebhookWorker } from "../../src/worker/webhooks.js";
import { createPrisma } from "../../src/db/client.js";
import { testConfig } from "../helpers/config.js";
import { deletePrefixKeys, waitFor } from "../helpers/worker.js";
import { Redis } from "ioredis";

/** A tenant and a job with a webhook secret, removed after the test. */
async function jobWithWebhookSecret(t: TestContext, name: string) {
  const config = testConfig();
  const prisma = createPrisma(config.databaseUrl, { maxConnections: 2 });
  const tenant = await prisma.tenant.create({ data: { name: `${name}-${randomUUID()}` } });
  const row = await prisma.job.create({ data: { tenantId: tenant.id, spec: {}, webhookSecret: generateWebhookSecret() } as never });
  t.after(async () => {
    await prisma.tenant.delete({ where: { id: tenant.id } }).catch(() => {});
    await prisma.$disconnect();
  });
  return { config, prisma, tenant, row };
}

test("webhook deliveries: private targets refused before connecting, pinned address, no redirects", { timeout: 60_000 }, async (t) => {
  const { config, prisma, row } = await jobWithWebhookSecret(t, "webhook-guard");

  const connections: string[] = [];
  const requests: { url: string; host: string }[] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url!, host: req.headers.host! });
    req.resume();
    if (req.url === "/redirect") return void res.writeHead(307, { location: "/elsewhere" }).end();
    res.writeHead(204).end();
  });
  server.on("connection", (s) => connections.push(String(s.remotePort)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.3", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;

  const prefix = `wh-guard-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAMES.webhooks, { connection: redis, prefix });
  // "hooks.example" stands for a public host: the test DNS answers with this loopback server's 127.0.0.3, which
  // alone is exempt from the check (localhost, 127.0.0.1 and the rest stay refused)
  const lookup = async (host: string) => {
    if (host === "hooks.example") return [{ address: "127.0.0.3", family: 4 }];
    if (host === "metadata.example") return [{ address: "169.254.169.254", family: 4 }];
    if (host === "rebind.example") return [{ address: "127.0.0.3", family: 4 }, { address: "10.0.0.7", family: 4 }];
    return dnsLookup(host, { all: true }); // localhost: the machine's own hosts file
  };
  const worker = startWebhookWorker(redis, prefix, { prisma, allowHttp: true, lookup, allowAddress: (ip) => ip === "127.0.0.3", concurrency: 4 });
  t.after(async () => {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await deletePrefixKeys(redis, prefix);
    redis.disconnect();
  });

  const deliver = (url: string) =>
    queue.add("delivery", { messageId: `msg_${randomUUID()}`, jobId: row.id, url, payload: { type: "job.started", timestamp: new Date().toISOString(), data: {} } } as never, { ...WEBHOOK_DELIVERY_OPTIONS, backoff: { type: "fixed", delay: 50 } });
  const settled = async (job: BullJob) =>
    waitFor(`delivery ${job.data.url}`, async () => {
      const state = await job.getState();
      if (state === "completed" || state === "failed") return (await queue.getJob(job.id!))!;
      return undefined;
    }, 20_000, 50);

  // refused outright: each fails once (UnrecoverableError), and the receiver sees no connection
  const refused: [string, RegExp][] = [
    [`http://localhost:${port}/hook`, /localhost resolves to .*loopback/],
    [`http://[::1]:${port}/hook`, /::1 is a loopback/],
    [`http://127.0.0.1:${port}/hook`, /127\.0\.0\.1 is a loopback/],
    [`http://[::ffff:127.0.0.3]:${port}/hook`, /loopback, private, link-local/],
    [`http://0.0.0.0:${port}/hook`, /0\.0\.0\.0 is a loopback/],
    [`http://metadata.example:${port}/latest/meta-data/`, /169\.254\.169\.254/],
    [`http://rebind.example:${port}/hook`, /10\.0\.0\.7/],
  ];
  for (const [url, reason] of refused) {
    const done = await settled(await deliver(url));
    assert.equal(await done.getState(), "failed", url);
    assert.match(done.failedReason, reason, url);
    assert.equal(done.attemptsMade, 1, `${url}: not retried`);
  }
  assert.deepEqual(connections, [], "no connection reached the receiver");

  // a public name: delivered to the address the guard checked, under its own Host
  const ok = await settled(await deliver(`http://hooks.example:${port}/hook`));
  assert.equal(await ok.getState(), "completed");
  assert.deepEqual(requests, [{ url: "/hook", host: `hooks.example:${port}` }]);

  // a redirect is an unsuccessful attempt, never followed
  const redirected = await settled(await deliver(`http://hooks.example:${port}/redirect`));
  assert.equal(await redirected.getState(), "failed");
  assert.match(redirected.failedReason, /answered 307/);
  assert.ok(!requests.some((r) => r.url === "/elsewhere"), "the redirect was not followed");
});

// The case as the worker runs in production (no test DNS, nothing exempt): a receiver listening on
// loopback is the service's own host, and a delivery aimed there by any spelling of the address must fail at
// once without reaching it. Before the guard, every one of these was delivered (204) or retried 8 times.
test("webhook deliveries aimed at loopback never reach a receiver listening there", { timeout: 60_000 }, async (t) => {
  const { config, prisma, row } = await jobWithWebhookSecret(t, "webhook-trap");

  const reached: string[] = [];
  const trap = createServer((req, res) => {
    reached.push(`${req.method} ${req.url} (Host: ${req.headers.host})`);
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => trap.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => trap.close(() => r())));
  const port = (trap.address() as AddressInfo).port;

  const prefix = `wh-trap-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE_NAMES.webhooks, { connection: redis, prefix });
  const worker = startWebhookWorker(redis, prefix, { prisma, allowHttp: true, concurrency: 4 });
  t.after(async () => {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await deletePrefixKeys(redis, prefix);
    redis.disconnect();
  });

  const urls = ["127.0.0.1", "localhost", "127.1", "2130706433", "[::ffff:127.0.0.1]", "0.0.0.0"].map((host) => `http://${host}:${port}/hook`);
  const jobs = await Promise.all(urls.map((url) => queue.add("delivery", { messageId: `msg_${randomUUID()}`, jobId: row.id, url, payload: { type: "job.started", timestamp: new Date().toISOString(), data: {} } } as never, { ...WEBHOOK_DELIVERY_OPTIONS, backoff: { type: "fixed", delay: 50 } })));
  for (const [i, job] of jobs.entries()) {
    const state = await waitFor(`delivery to ${urls[i]}`, async () => {
      const s = await job.getState();
      return s === "completed" || s === "failed" ? s : undefined;
    }, 20_000, 50);
    const done = (await queue.getJob(job.id!))!;
    assert.deepEqual(reached, [], `${urls[i]} (${state}): the receiver on 127.0.0.1 was reached`);
    assert.equal(state, "failed", urls[i]);
    assert.match(done.failedReason, /loopback/, urls[i]);
    assert.equal(done.attemptsMade, 1, `${urls[i]}: not retried`);
  }
});
