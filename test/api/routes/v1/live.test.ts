// The live parts, over a real listening server: the SSE stream of a job's events (live, then resumed with
// Last-Event-ID with nothing lost or repeated), and a webhook delivered through BullMQ to a local HTTP server
// that checks the Standard Webhooks signature.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Queue, type Worker } from "bullmq";
import { appendEvent, createJob } from "../../../../src/db/jobs.repository.js";
import { transition } from "../../../../src/db/transitions.js";
import { parseJobSpec } from "../../../../src/contract/job-spec/parse.js";
import type { JobSpec } from "../../../../src/contract/job-spec/schema.js";
import { QUEUE_NAMES } from "../../../../src/contract/queues.js";
import { verifyWebhook, type WebhookPayload } from "../../../../src/contract/webhook.js";
import { enqueueWebhook, startWebhookWorker } from "../../../../src/worker/webhooks.js";
import { hubJob, newTenant, prisma, v1App } from "../../../helpers/v1-api.js";

function spec(body: Record<string, unknown>): JobSpec {
  const r = parseJobSpec(body);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

interface SseEvent {
  id: number;
  event: string;
}

/** Reads SSE events from a fetch body until `stop` says so or the stream ends. */
async function readEvents(res: Response, stop: (seen: SseEvent[], comments: number) => boolean, onEvent?: (e: SseEvent) => void): Promise<{ events: SseEvent[]; comments: number; ended: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buf = "";
  let comments = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { events, comments, ended: true };
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (block.startsWith(":")) comments++;
      const id = /^id: (\d+)$/m.exec(block);
      const ev = /^event: (.+)$/m.exec(block);
      if (id && ev) {
        const e = { id: Number(id[1]), event: ev[1] };
        events.push(e);
        onEvent?.(e);
      }
      // stop at the exact event, not at the end of the chunk: one read may carry several events, and the client
      // has consumed only those before it stopped (the resume below starts after the last of them)
      if (stop(events, comments)) {
        await reader.cancel();
        return { events, comments, ended: false };
      }
    }
    if (stop(events, comments)) {
      await reader.cancel();
      return { events, comments, ended: false };
    }
  }
}

test("SSE: events arrive live, and a reconnect with Last-Event-ID resumes with nothing lost or repeated", async (t) => {
  const app = await v1App(t);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const a = await newTenant();
  const { job } = await createJob(prisma, a.id, spec(hubJob()));
  const headers = { ...a.auth, accept: "text/event-stream" };

  // first connection: job.created is the backlog; then events appended while it is open arrive live
  const res = await fetch(`${base}/v1/jobs/${job.id}/events`, { headers });
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get("content-type")), /^text\/event-stream/);
  const appended: number[] = [];
  const first = await readEvents(
    res,
    (seen) => seen.length >= 4,
    (e) => {
      if (e.id === 1) void (async () => {
        await transition(prisma, job.id, ["queued"], "running");
        for (let step = 1; step <= 4; step++) appended.push((await appendEvent(prisma, job.id, { type: "job.metrics", data: { step, loss: 5 - step } })).seq);
      })();
    },
  );
  assert.deepEqual(first.events.map((e) => e.id), [1, 2, 3, 4]);

  // while disconnected, more events happen, ending with the final one
  await new Promise((r) => setTimeout(r, 300));
  await transition(prisma, job.id, ["running"], "succeeded");
  const last = first.events.at(-1)!.id;
  const resumed = await fetch(`${base}/v1/jobs/${job.id}/events`, { headers: { ...headers, "last-event-id": String(last) } });
  const second = await readEvents(resumed, () => false);
  assert.equal(second.ended, true, "the stream ends after the final event");
  const all = [...first.events, ...second.events].map((e) => e.id);
  const total = await prisma.jobEvent.count({ where: { jobId: job.id } });
  assert.deepEqual(all, Array.from({ length: total }, (_, i) => i + 1), "every seq exactly once, in order");
  assert.equal(second.events.at(-1)!.event, "job.succeeded");
  assert.ok(appended.every((s) => all.includes(s)));

  // resuming after the final event ends at once; a comment heartbeat keeps a quiet stream open
  const after = await readEvents(await fetch(`${base}/v1/jobs/${job.id}/events`, { headers: { ...headers, "last-event-id": String(total) } }), () => false);
  assert.deepEqual(after.events, []);
  const quiet = (await createJob(prisma, a.id, spec(hubJob()))).job;
  const beat = await readEvents(await fetch(`${base}/v1/jobs/${quiet.id}/events`, { headers: { ...headers, "last-event-id": "1" } }), (_, comments) => comments >= 1);
  assert.deepEqual(beat.events, []);
  assert.equal(beat.ended, false);
});

test("webhooks: a status change is delivered, signed per Standard Webhooks, with retries after a failure", async (t) => {
  const app = await v1App(t);
  const a = await newTenant();
  const received: { headers: IncomingMessage["headers"]; body: string }[] = [];
  let failFirst = true;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (failFirst) {
        failFirst = false;
        res.writeHead(503).end();
        return;
      }
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  // the API makes the job (and the secret); the spec only takes https, so the test points it at the local server
  const created = await app.inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: hubJob({ webhook: { url: "https://hooks.example.com/x", events: ["job.started", "job.cancelled"] } }) });
  assert.equal(created.statusCode, 201, created.body);
  const { job, webhookSecret } = created.json();
  const row = await prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  await prisma.job.update({ where: { id: job.id }, data: { spec: { ...(row.spec as object), webhook: { url, events: ["job.started", "job.cancelled"] } } } });

  const queue = new Queue(QUEUE_NAMES.webhooks, { connection: app.redis, prefix: app.config.queuePrefix });
  t.after(() => queue.close());
  // the worker side: the pipeline calls enqueueWebhook after its transition
  await app.queues.prune.remove(job.id);
  await transition(prisma, job.id, ["queued"], "running");
  const started = await prisma.jobEvent.findFirstOrThrow({ where: { jobId: job.id, type: "job.started" } });
  assert.equal(await enqueueWebhook(queue, prisma, job.id, started), true);
  assert.equal(await enqueueWebhook(queue, prisma, job.id, started), true, "enqueued twice…");
  const metrics = await appendEvent(prisma, job.id, { type: "job.metrics", data: { step: 1 } });
  assert.equal(await enqueueWebhook(queue, prisma, job.id, metrics), false, "not subscribed");

  const worker: Worker = startWebhookWorker({ host: "127.0.0.1", port: 6379 }, app.config.queuePrefix, { prisma, allowHttp: true, allowPrivate: true, concurrency: 1 });
  t.after(() => worker.close());
  const deliveries = await queue.getJobs(["waiting", "delayed", "active"]);
  assert.equal(deliveries.length, 1, "…delivered once");

  // the API side: cancelling a running job enqueues job.cancel_requested (not subscribed); the worker then cancels
  await transition(prisma, job.id, ["running"], "cancelled");
  const cancelled = await prisma.jobEvent.findFirstOrThrow({ where: { jobId: job.id, type: "job.cancelled" } });
  await enqueueWebhook(queue, prisma, job.id, cancelled);

  const deadline = Date.now() + 15_000;
  while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(received.length, 2, "both events delivered (the first after a 503 and a retry)");
  const payloads: WebhookPayload[] = received.map((r) => verifyWebhook(webhookSecret, r.headers as Record<string, string>, r.body));
  assert.deepEqual(payloads.map((p) => p.type).sort(), ["job.cancelled", "job.started"]);
  assert.ok(payloads.every((p) => p.data.job_id === job.id));
  const startedDelivery = received[payloads.findIndex((p) => p.type === "job.started")];
  assert.equal(startedDelivery.headers["webhook-id"], `msg_${job.id}_${started.seq}`);
  // a wrong secret or a changed body does not verify
  assert.throws(() => verifyWebhook(`whsec_${Buffer.alloc(32).toString("base64")}`, received[0].headers as Record<string, string>, received[0].body), /no signature matches/);
  assert.throws(() => verifyWebhook(webhookSecret, received[0].headers as Record<string, string>, received[0].body.replace("job", "jab")), /no signature matches/);
});
