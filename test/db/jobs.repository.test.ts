// The job repository against the real test database: idempotent creation (also when racing), progress
// that doubles as the cancel poll, the cancel outcomes, and newest-first cursor pages.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { InvalidCursorError, encodeCursor } from "../../src/db/cursor.js";
import { createJob, getJob, listEvents, listJobs, requestCancel, updateProgress } from "../../src/db/jobs.repository.js";
import { transition } from "../../src/db/transitions.js";
import { spec, testDb } from "../helpers/db.js";

const { prisma, tenant } = testDb();

describe("createJob", () => {
  it("stores the spec as a queued job with job.created (seq 1) and keeps the Hub token out of the event", async () => {
    const t = await tenant();
    const r = await createJob(prisma, t, spec());
    assert.equal(r.outcome, "created");
    assert.equal(r.job.status, "queued");
    assert.equal(r.job.eventSeq, 1);
    assert.equal((r.job.spec as { source: { hf: { token: string } } }).source.hf.token, "hf_secret", "the worker needs the token");
    const [created] = await listEvents(prisma, r.job.id);
    assert.equal(created.seq, 1);
    assert.equal(created.type, "job.created");
    assert.ok(!JSON.stringify(created.data).includes("hf_secret"));
    assert.equal(await getJob(prisma, t, r.job.id).then((j) => j?.id), r.job.id);
    assert.equal(await getJob(prisma, await tenant(), r.job.id), null, "other tenants do not see it");
  });

  it("replays the same key with the same body and reports a conflict with another body", async () => {
    const t = await tenant();
    const first = await createJob(prisma, t, spec(), { idempotencyKey: "k1", requestHash: "h1" });
    const again = await createJob(prisma, t, spec(), { idempotencyKey: "k1", requestHash: "h1" });
    const other = await createJob(prisma, t, spec(), { idempotencyKey: "k1", requestHash: "h2" });
    assert.deepEqual([first.outcome, again.outcome, other.outcome], ["created", "replayed", "conflict"]);
    assert.equal(again.job.id, first.job.id);
    assert.equal(other.job.id, first.job.id);
    assert.equal(await prisma.job.count({ where: { tenantId: t } }), 1);
  });

  it("creates one job when requests with the same key race", async () => {
    const t = await tenant();
    const results = await Promise.all(Array.from({ length: 6 }, () => createJob(prisma, t, spec(), { idempotencyKey: "race", requestHash: "h" })));
    assert.equal(results.filter((r) => r.outcome === "created").length, 1);
    assert.ok(results.every((r) => r.outcome !== "conflict"));
    assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
    assert.equal(await prisma.job.count({ where: { tenantId: t } }), 1);
  });

  it("links an uploaded checkpoint source to its Checkpoint row", async () => {
    const t = await tenant();
    const ckpt = await prisma.checkpoint.create({ data: { tenantId: t, source: { kind: "upload" }, status: "ready" } });
    const r = await createJob(prisma, t, spec({ source: { checkpoint_id: ckpt.id } }));
    assert.equal(r.job.checkpointId, ckpt.id);
    await assert.rejects(
      createJob(prisma, t, spec({ source: { checkpoint_id: "00000000-0000-0000-0000-000000000000" } })),
      (e: Error & { code?: string }) => e.code === "checkpoint_invalid" && /does not exist/.test(e.message),
    );
    assert.equal(await prisma.job.count({ where: { tenantId: t } }), 1, "nothing half-written");
  });
});

describe("updateProgress", () => {
  it("updates a running job without events, never moves progress back, and reports a cancel request", async () => {
    const { job } = await createJob(prisma, await tenant(), spec());
    assert.deepEqual(await updateProgress(prisma, job.id, { progress: 0.1 }), { running: false, cancelRequested: false });
    await transition(prisma, job.id, ["queued"], "running");
    assert.deepEqual(await updateProgress(prisma, job.id, { progress: 0.5, etaSeconds: 30, metrics: { loss: 2.5 } }), { running: true, cancelRequested: false });
    await updateProgress(prisma, job.id, { progress: 0.3 });
    let row = await prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(row.progress, 0.5);
    assert.equal(row.etaSeconds, 30, "eta kept when not given");
    assert.deepEqual(row.metrics, { loss: 2.5 }, "metrics kept when not given");
    await updateProgress(prisma, job.id, { progress: 7, etaSeconds: null });
    row = await prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(row.progress, 1, "clamped to 1");
    assert.equal(row.etaSeconds, null);
    assert.equal(row.eventSeq, 2, "no events written");
    await requestCancel(prisma, job.id);
    assert.deepEqual(await updateProgress(prisma, job.id, { progress: 1 }), { running: true, cancelRequested: true });
  });
});

describe("requestCancel", () => {
  it("cancels a queued job at once", async () => {
    const { job } = await createJob(prisma, await tenant(), spec());
    assert.deepEqual(await requestCancel(prisma, job.id), { outcome: "cancelled", status: "cancelled" });
    const row = await prisma.job.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(row.status, "cancelled");
    assert.ok(row.finishedAt);
    assert.equal((await listEvents(prisma, job.id)).at(-1)?.type, "job.cancelled");
    assert.equal(await transition(prisma, job.id, ["queued"], "running"), false, "a worker that picks it up later finds nothing to run");
  });

  it("flags a running job once, then reports it as already requested, then final once the worker stops", async () => {
    const { job } = await createJob(prisma, await tenant(), spec());
    await transition(prisma, job.id, ["queued"], "running");
    assert.equal((await requestCancel(prisma, job.id)).outcome, "cancel_requested");
    assert.equal((await requestCancel(prisma, job.id)).outcome, "already_requested");
    assert.deepEqual((await listEvents(prisma, job.id)).map((e) => e.type), ["job.created", "job.started", "job.cancel_requested"]);
    await transition(prisma, job.id, ["running"], "cancelled");
    assert.deepEqual(await requestCancel(prisma, job.id), { outcome: "final", status: "cancelled" });
    assert.deepEqual(await requestCancel(prisma, randomUUID()), { outcome: "not_found" });
  });
});

describe("listJobs", () => {
  it("pages newest first with an opaque cursor, without repeats or gaps, and filters by status", async () => {
    const t = await tenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createJob(prisma, t, spec())).job.id);
    // two jobs in the same millisecond must still page deterministically (the id breaks the tie)
    await prisma.job.updateMany({ where: { id: { in: ids.slice(1, 3) } }, data: { createdAt: new Date("2030-01-01T00:00:00.000Z") } });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listJobs(prisma, t, { limit: 2, cursor });
      seen.push(...page.items.map((j) => j.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.equal(seen.length, 5);
    assert.deepEqual(new Set(seen), new Set(ids));
    const all = await listJobs(prisma, t, { limit: 100 });
    assert.deepEqual(seen, all.items.map((j) => j.id));
    assert.equal(all.nextCursor, null);
    for (let i = 1; i < all.items.length; i++) assert.ok(all.items[i - 1].createdAt >= all.items[i].createdAt);

    await transition(prisma, ids[0], ["queued"], "cancelled");
    assert.deepEqual((await listJobs(prisma, t, { status: "cancelled" })).items.map((j) => j.id), [ids[0]]);
    assert.equal((await listJobs(prisma, await tenant())).items.length, 0, "other tenants see none");
  });

  it("rejects a cursor it did not make", async () => {
    const t = await tenant();
    for (const bad of ["nope", Buffer.from("[1,2]").toString("base64url"), Buffer.from('["not a date","x"]').toString("base64url"), encodeCursor(new Date(), "not-a-uuid")])
      await assert.rejects(listJobs(prisma, t, { cursor: bad }), InvalidCursorError);
  });
});

describe("listEvents", () => {
  it("returns the events after a seq, in order, up to a limit", async () => {
    const { job } = await createJob(prisma, await tenant(), spec());
    await transition(prisma, job.id, ["queued"], "running");
    await transition(prisma, job.id, ["running"], "succeeded");
    assert.deepEqual((await listEvents(prisma, job.id, { afterSeq: 1 })).map((e) => e.seq), [2, 3]);
    assert.deepEqual((await listEvents(prisma, job.id, { afterSeq: 1, limit: 1 })).map((e) => e.seq), [2]);
    assert.deepEqual(await listEvents(prisma, job.id, { afterSeq: 3 }), []);
  });
});
