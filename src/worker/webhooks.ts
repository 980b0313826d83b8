// Webhook delivery: the pipeline calls enqueueWebhook after each status change it makes; a BullMQ worker on
// the `webhooks` queue POSTs the signed payload, and BullMQ retries a failed attempt with exponential backoff
// (WEBHOOK_DELIVERY_OPTIONS). Deliveries run outside the prune queue, so a slow receiver never holds a job up.
// Each POST goes through the SSRF guard of the sources (resolved, private addresses refused, the checked address
// pinned, no redirect followed); a refused address fails the delivery at once, without retries.
import { Queue, Worker, type Job as BullJob, type ConnectionOptions } from "bullmq";
import type { JobEvent, PrismaClient } from "@prisma/client";
import { QUEUE_NAMES } from "../contract/queues.js";
import { InvalidJobError, stopRetrying } from "../contract/errors.js";
import { guardedPost } from "./source/http.js";
import type { Lookup } from "./source/guard.js";
import { signWebhook, WEBHOOK_DELIVERY_OPTIONS, webhookDeliveryFor, type WebhookDeliveryData } from "../contract/webhook.js";

/** Queues the delivery of `event` if the job's webhook subscribed to it; returns whether it did. */
export async function enqueueWebhook(queue: Queue, prisma: PrismaClient, jobId: string, event: Pick<JobEvent, "seq" | "type" | "message" | "data" | "createdAt">): Promise<boolean> {
  const job = await prisma.job.findUnique({ where: { id: jobId }, select: { id: true, status: true, spec: true, webhookSecret: true } });
  if (!job) return false;
  const delivery = webhookDeliveryFor(job, event);
  if (!delivery) return false;
  await queue.add(delivery.name, delivery.data, { ...WEBHOOK_DELIVERY_OPTIONS, ...delivery.opts });
  return true;
}

export interface DeliveryOptions {
  prisma: PrismaClient;
  /** per-attempt deadline of the POST */
  timeoutMs?: number;
  /** accept http:// URLs (tests against a local server); the job spec only ever has https */
  allowHttp?: boolean;
  /** deliver to private addresses too (ALLOW_PRIVATE_SOURCES, for a receiver inside a private deployment) */
  allowPrivate?: boolean;
  /** DNS for the guard (tests) */
  lookup?: Lookup;
  /** addresses exempt from the private-address check (tests: a loopback server standing in for a public one) */
  allowAddress?: (ip: string) => boolean;
}

/** The BullMQ processor: one signed POST; a non-2xx answer or a network error throws, so BullMQ retries. */
export function webhookProcessor(opts: DeliveryOptions) {
  return async (bull: BullJob<WebhookDeliveryData>): Promise<{ status: number }> => {
    const { messageId, jobId, url, payload } = bull.data;
    if (!opts.allowHttp && !url.startsWith("https://")) throw stopRetrying("webhook URL is not https");
    const job = await opts.prisma.job.findUnique({ where: { id: jobId }, select: { webhookSecret: true } });
    // the job was deleted since: nobody is left to tell
    if (!job?.webhookSecret) throw stopRetrying(`job ${jobId} or its webhook secret is gone`);
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      "content-type": "application/json",
      "user-agent": "maskforge-webhooks",
      "webhook-id": messageId,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signWebhook(job.webhookSecret, messageId, timestamp, body),
    };
    let status: number;
    try {
      status = await guardedPost(url, Buffer.from(body), { allowPrivate: opts.allowPrivate ?? false, allowHttp: opts.allowHttp, lookup: opts.lookup, allowAddress: opts.allowAddress, headers, timeoutMs: opts.timeoutMs ?? 10_000, what: "webhook URL" });
    } catch (err) {
      // a refused address or URL will be refused again: no retry
      if (err instanceof InvalidJobError) throw stopRetrying(err.publicMessage);
      throw err;
    }
    // a redirect is not followed (it could point anywhere) and counts as a failed attempt
    if (status < 200 || status >= 300) throw new Error(`webhook receiver answered ${status}`);
    return { status };
  };
}

/** A worker delivering webhooks; close it on shutdown. */
export function startWebhookWorker(connection: ConnectionOptions, prefix: string, opts: DeliveryOptions & { concurrency?: number }): Worker<WebhookDeliveryData> {
  return new Worker<WebhookDeliveryData>(QUEUE_NAMES.webhooks, webhookProcessor(opts), { connection, prefix, concurrency: opts.concurrency ?? 8 });
}
