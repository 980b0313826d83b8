// The API's producer of webhook deliveries, for the status changes the API itself makes (cancelling a queued
// job); the worker enqueues the rest. The queue is the queues plugin's.
import fp from "fastify-plugin";
import type { JobEvent } from "@prisma/client";
import { WEBHOOK_DELIVERY_OPTIONS, webhookDeliveryFor, type WebhookJobView } from "../../../contract/webhook.js";

declare module "fastify" {
  interface FastifyInstance {
    webhooks: { enqueue(job: WebhookJobView, event: JobEvent): Promise<boolean> };
  }
}

export default fp(
  async (app) => {
    app.decorate("webhooks", {
      async enqueue(job: WebhookJobView, event: JobEvent) {
        const delivery = webhookDeliveryFor(job, event);
        if (!delivery) return false;
        await app.queues.webhooks.add(delivery.name, delivery.data, { ...WEBHOOK_DELIVERY_OPTIONS, ...delivery.opts });
        return true;
      },
    });
  },
  { name: "webhooks", dependencies: ["queues"] },
);
