// Webhooks as in the Standard Webhooks spec (standardwebhooks.com): each delivery carries webhook-id (stable
// across retries, so receivers can drop duplicates), webhook-timestamp (unix seconds, so receivers can refuse
// replays) and webhook-signature `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed by the bytes of
// a per-job `whsec_<base64>` secret. The API and the worker both enqueue deliveries, so what a delivery
// contains is decided here, once; the secret itself never enters the queue (the worker reads it from the Job row).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { JOB_EVENT_TYPES, type WebhookEventType } from "./events.js";

export const WEBHOOK_SECRET_PREFIX = "whsec_";

/** A fresh signing secret: 32 random bytes. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString("base64");
}

function secretBytes(secret: string): Buffer {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) throw new RangeError("webhook secret must start with whsec_");
  return Buffer.from(secret.slice(WEBHOOK_SECRET_PREFIX.length), "base64");
}

/** The webhook-signature header value for one delivery. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac("sha256", secretBytes(secret)).update(`${id}.${timestamp}.${body}`).digest("base64");
  return `v1,${mac}`;
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/**
 * What a receiver does: checks the timestamp is within `toleranceSeconds` of now and that one of the
 * space-separated signatures matches. Returns the parsed payload; throws WebhookVerificationError.
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  opts: { toleranceSeconds?: number; now?: number } = {},
): WebhookPayload {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = header("webhook-id");
  const ts = Number(header("webhook-timestamp"));
  const signatures = header("webhook-signature");
  if (!id || !Number.isSafeInteger(ts) || !signatures) throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature");
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  if (Math.abs(now - ts) > (opts.toleranceSeconds ?? 300)) throw new WebhookVerificationError("timestamp outside the tolerance");
  const expected = Buffer.from(signWebhook(secret, id, ts, body));
  const ok = signatures.split(" ").some((s) => {
    const given = Buffer.from(s);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new WebhookVerificationError("no signature matches");
  return JSON.parse(body) as WebhookPayload;
}

/** The JSON body of a delivery: Standard Webhooks' {type, timestamp, data}. */
export interface WebhookPayload {
  type: WebhookEventType;
  /** when the event happened (ISO 8601) */
  timestamp: string;
  data: {
    job_id: string;
    /** the event's per-job sequence number (as in the SSE stream) */
    seq: number;
    status: string;
    message: string | null;
    event: unknown;
  };
}

/** The data of one BullMQ job on the `webhooks` queue. No secret: the processor reads it from the Job row. */
export interface WebhookDeliveryData {
  /** webhook-id: the same on every retry of this delivery */
  messageId: string;
  jobId: string;
  url: string;
  payload: WebhookPayload;
}

/** Retries of one delivery: 8 attempts with exponential backoff from 2 s (about 4 minutes of tries in all). */
export const WEBHOOK_DELIVERY_OPTIONS = {
  attempts: 8,
  backoff: { type: "exponential", delay: 2000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

export interface WebhookJobView {
  id: string;
  status: string;
  spec: unknown;
  webhookSecret: string | null;
}

export interface WebhookEventView {
  seq: number;
  type: string;
  message: string | null;
  data: unknown;
  createdAt: Date;
}

/**
 * The delivery an event of a job makes, or null when the job has no webhook or did not subscribe to this
 * event type. The BullMQ job id derives from (job, seq), so enqueueing the same event twice delivers once.
 */
export function webhookDeliveryFor(job: WebhookJobView, event: WebhookEventView): { name: string; data: WebhookDeliveryData; opts: { jobId: string } } | null {
  const webhook = (job.spec as { webhook?: { url: string; events: string[] } } | null)?.webhook;
  if (!webhook || !job.webhookSecret || !webhook.events.includes(event.type)) return null;
  const messageId = `msg_${job.id}_${event.seq}`;
  return {
    name: event.type,
    data: {
      messageId,
      jobId: job.id,
      url: webhook.url,
      payload: {
        type: event.type as WebhookEventType,
        timestamp: event.createdAt.toISOString(),
        data: { job_id: job.id, seq: event.seq, status: job.status, message: event.message, event: event.data ?? null },
      },
    },
    opts: { jobId: messageId },
  };
}

/** The final events: after one of these a job sends nothing more. */
export const FINAL_EVENT_TYPES: readonly string[] = [JOB_EVENT_TYPES.succeeded, JOB_EVENT_TYPES.failed, JOB_EVENT_TYPES.cancelled];
