// The API's producer on the `webhooks` queue, for the status changes the API itself makes (cancelling a
// queued job); the worker enqueues the rest. Built on first use, like the prune queue.
import fp from "fastify-plugin";
import { Queue } from "bullmq";
import type { JobEvent } from "@prisma/client";
import { QUEUE_NAMES } from "../../../contract/queues.js";
import { WEBHOOK_DELIVERY_OPTIONS, webhookDeliveryFor, type WebhookJobView } from "../../../contract/webhook.js";

declare module "fastify" {
  interface FastifyInstance {
    webhooks: { enqueue(job: WebhookJobView, event: JobEvent): Promise<boolean> };
  }
}

export default fp(
  async (app) => {
    let queue: Queue | undefined;
    app.decorate("webhooks", {
      async enqueue(job: WebhookJobView, event: JobEvent) {
        const delivery = webhookDeliveryFor(job, event);
        if (!delivery) return false;
        if (!queue) {
          queue = new Queue(QUEUE_NAMES.webhooks, { connection: app.redis, prefix: app.config.queuePrefix });
          queue.on("error", () => {});
        }
        await queue.add(delivery.name, delivery.data, { ...WEBHOOK_DELIVERY_OPTIONS, ...delivery.opts });
        return true;
      },
    });
    app.addHook("onClose", async () => {
      await queue?.close();
    });
  },
  { name: "webhooks", dependencies: ["queues"] },
);
