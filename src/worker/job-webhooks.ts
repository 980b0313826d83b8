// Webhook notifications of one job attempt: after each status or stage change the worker makes, the event it
// wrote goes to the `webhooks` queue (enqueueWebhook) when the job's webhook subscribed to that type. Delivery
// is someone else's business: enqueueing is bounded by a deadline and a failure is only logged, so a webhook
// problem never fails, stalls or retries the job itself.
import type { JobEvent, PrismaClient } from "@prisma/client";
import type { Queue } from "bullmq";
import { enqueueWebhook } from "./webhooks.js";

const ENQUEUE_DEADLINE_MS = 3000;

type EventRow = Pick<JobEvent, "seq" | "type" | "message" | "data" | "createdAt">;
type Log = { warn(o: object, m?: string): void };

export class JobWebhooks {
  private readonly subscribed: Set<string>;

  constructor(
    private readonly queue: Queue | undefined,
    private readonly prisma: PrismaClient,
    private readonly jobId: string,
    job: { spec: unknown; webhookSecret: string | null },
    private readonly log?: Log,
  ) {
    // read from the stored spec as it is: the started event goes out before the worker parses the spec
    const events = (job.spec as { webhook?: { events?: unknown } } | null)?.webhook?.events;
    this.subscribed = new Set(queue && job.webhookSecret && Array.isArray(events) ? events.filter((e): e is string => typeof e === "string") : []);
  }

  /** Whether an event of this type would be delivered (saves the look-up of the event when not). */
  wants(type: string): boolean {
    return this.subscribed.has(type);
  }

  /** Notifies the newest event of `type`: the one the worker's own change has just written. */
  async latest(type: string): Promise<void> {
    if (!this.wants(type)) return;
    await this.bounded(async () => {
      const ev = await this.prisma.jobEvent.findFirst({ where: { jobId: this.jobId, type }, orderBy: { seq: "desc" } });
      if (ev) await enqueueWebhook(this.queue!, this.prisma, this.jobId, ev);
    });
  }

  /** Notifies events the caller already holds, in order. */
  async events(rows: EventRow[]): Promise<void> {
    const wanted = rows.filter((r) => this.wants(r.type));
    if (wanted.length === 0) return;
    await this.bounded(async () => {
      for (const ev of wanted) await enqueueWebhook(this.queue!, this.prisma, this.jobId, ev);
    });
  }

  private async bounded(fn: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([fn(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`enqueueing took over ${ENQUEUE_DEADLINE_MS} ms`)), ENQUEUE_DEADLINE_MS)))]);
    } catch (err) {
      this.log?.warn({ jobId: this.jobId, err }, "could not enqueue a webhook delivery; the job goes on");
    } finally {
      clearTimeout(timer);
    }
  }
}
