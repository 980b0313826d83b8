-- A per-job Standard Webhooks secret: the API makes it on creation, the webhook worker signs with it.
ALTER TABLE "Job" ADD COLUMN "webhookSecret" TEXT;
