// One attempt as the queue sees it, without a worker process: a spec the worker cannot run never starts. It goes
// queued -> failed (as src/contract/status.ts has it) with the reason, and BullMQ is told not to retry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createPrisma } from "../../src/db/client.js";
import { createJob } from "../../src/db/jobs.repository.js";
import { createBlobStore } from "../../src/storage/index.js";
import { runJob, type QueueJob } from "../../src/worker/run-job.js";
import { testConfig } from "../helpers/config.js";
import { jobSpec } from "../helpers/worker.js";

test("a stored spec the worker cannot parse goes queued -> failed, never running", async (t) => {
  const config = testConfig();
  const prisma = createPrisma(config.databaseUrl, { maxConnections: 2 });
  const store = createBlobStore(config.storage);
  const tenant = await prisma.tenant.create({ data: { name: `run-job-test-${randomUUID()}` } });
  t.after(async () => {
    await prisma.tenant.delete({ where: { id: tenant.id } }).catch(() => {});
    await prisma.$disconnect();
    await store.close();
  });
  const { job } = await createJob(prisma, tenant.id, jobSpec({ source: { url: "https://example.com/model.tar" }, method: "magnitude" }));
  // a row written by an older API, or edited by hand: the worker re-reads it and refuses it
  await prisma.job.update({ where: { id: job.id }, data: { spec: { source: {}, method: "magnitude" } } });
  const qjob: QueueJob = { id: job.id, data: { jobId: job.id }, attemptsMade: 0, opts: { attempts: 3 }, updateProgress: async () => {}, moveToDelayed: async () => {} };

  await assert.rejects(runJob({ config, prisma, store }, qjob, undefined), (e: Error & { code?: string }) => e.name === "UnrecoverableError" && e.code === "invalid_spec");
  const after = await prisma.job.findUniqueOrThrow({ where: { id: job.id } });
  assert.equal(after.status, "failed");
  assert.equal((after.error as { code: string }).code, "invalid_spec");
  assert.equal(after.startedAt, null, "it never ran");
  const events = await prisma.jobEvent.findMany({ where: { jobId: job.id }, orderBy: { seq: "asc" } });
  const failed = events.find((e) => e.type === "job.failed");
  assert.ok(failed, JSON.stringify(events.map((e) => e.type)));
  assert.equal((failed.data as { previous?: string }).previous, "queued");
  assert.ok(!events.some((e) => e.type === "job.started"), "no job.started before it failed");
});
