// Status changes against the real test database: the conditional update lets exactly one of several racing
// actors win, the loser writes nothing, and illegal changes are refused before any write.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { appendEvent, createJob, listEvents } from "../../src/db/jobs.repository.js";
import { IllegalTransitionError, setStage, transition } from "../../src/db/transitions.js";
import { spec, testDb } from "../helpers/db.js";

const { prisma, tenant } = testDb();

async function newJob() {
  const r = await createJob(prisma, await tenant(), spec());
  return r.job.id;
}

describe("transition", () => {
  it("moves queued -> running, stamps the attempt and writes job.started with the next seq", async () => {
    const id = await newJob();
    assert.equal(await transition(prisma, id, ["queued"], "running"), true);
    const job = await prisma.job.findUniqueOrThrow({ where: { id } });
    assert.equal(job.status, "running");
    assert.equal(job.attempt, 1);
    assert.ok(job.startedAt);
    assert.equal(job.eventSeq, 2);
    const events = await listEvents(prisma, id);
    assert.deepEqual(events.map((e) => [e.seq, e.type]), [[1, "job.created"], [2, "job.started"]]);
  });

  it("lets exactly one of several racing final transitions win", async () => {
    const id = await newJob();
    await transition(prisma, id, ["queued"], "running");
    const targets = ["succeeded", "failed", "cancelled", "succeeded", "failed", "cancelled", "succeeded", "failed"] as const;
    const results = await Promise.all(
      targets.map((to) => transition(prisma, id, ["running"], to, to === "failed" ? { error: { code: "internal", message: "x" } } : {})),
    );
    assert.equal(results.filter(Boolean).length, 1);
    const winner = targets[results.indexOf(true)];
    const job = await prisma.job.findUniqueOrThrow({ where: { id } });
    assert.equal(job.status, winner);
    assert.ok(job.finishedAt);
    const events = await listEvents(prisma, id);
    assert.deepEqual(events.map((e) => e.type), ["job.created", "job.started", `job.${winner}`]);
    assert.equal(job.eventSeq, 3);
  });

  it("returns false and writes nothing when the job is no longer in `from`", async () => {
    const id = await newJob();
    assert.equal(await transition(prisma, id, ["running"], "succeeded"), false);
    const job = await prisma.job.findUniqueOrThrow({ where: { id } });
    assert.equal(job.status, "queued");
    assert.equal(job.eventSeq, 1);
    assert.equal((await listEvents(prisma, id)).length, 1);
  });

  it("refuses a change the status machine forbids before touching the row", async () => {
    const id = await newJob();
    await transition(prisma, id, ["queued"], "cancelled");
    await assert.rejects(transition(prisma, id, ["cancelled"], "running"), IllegalTransitionError);
    await assert.rejects(transition(prisma, id, ["queued"], "succeeded"), IllegalTransitionError);
    await assert.rejects(transition(prisma, id, [], "failed"), IllegalTransitionError);
    const job = await prisma.job.findUniqueOrThrow({ where: { id } });
    assert.equal(job.status, "cancelled");
    assert.equal(job.eventSeq, 2);
  });

  it("sends a retried job back to the queue with its stage and progress cleared", async () => {
    const id = await newJob();
    await transition(prisma, id, ["queued"], "running");
    await setStage(prisma, id, "training", { progress: 0.4 });
    assert.equal(await transition(prisma, id, ["running"], "queued", { error: { code: "upstream_unavailable", message: "hub 503" } }), true);
    const job = await prisma.job.findUniqueOrThrow({ where: { id } });
    assert.equal(job.stage, null);
    assert.equal(job.progress, 0);
    assert.equal((await listEvents(prisma, id)).at(-1)?.type, "job.retrying");
    await transition(prisma, id, ["queued"], "running");
    assert.equal((await prisma.job.findUniqueOrThrow({ where: { id } })).attempt, 2);
  });

  it("returns false for a job that does not exist", async () => {
    assert.equal(await transition(prisma, randomUUID(), ["queued"], "running"), false);
  });
});

describe("setStage", () => {
  it("moves stages forward only and only while running", async () => {
    const id = await newJob();
    assert.equal(await setStage(prisma, id, "fetching"), false, "queued job has no stage");
    await transition(prisma, id, ["queued"], "running");
    assert.equal(await setStage(prisma, id, "fetching"), true);
    assert.equal(await setStage(prisma, id, "calibrating"), true, "skipping a stage is fine");
    assert.equal(await setStage(prisma, id, "validating"), false, "backwards");
    assert.equal(await setStage(prisma, id, "calibrating"), false, "same stage again");
    const stages = (await listEvents(prisma, id)).filter((e) => e.type === "job.stage").map((e) => e.data);
    assert.deepEqual(stages, [{ stage: "fetching", previous: null }, { stage: "calibrating", previous: "fetching" }]);
  });
});

describe("appendEvent", () => {
  it("hands out unique consecutive seqs to concurrent writers", async () => {
    const id = await newJob();
    const n = 24;
    const events = await Promise.all(Array.from({ length: n }, (_, i) => appendEvent(prisma, id, { type: "job.log", message: `line ${i}` })));
    const seqs = events.map((e) => e.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i + 2));
    const job = await prisma.job.findUniqueOrThrow({ where: { id } });
    assert.equal(job.eventSeq, n + 1);
    // interleaved with a transition, numbering still has no gap or repeat
    const [moved, extra] = await Promise.all([transition(prisma, id, ["queued"], "running"), appendEvent(prisma, id, { type: "job.log" })]);
    assert.equal(moved, true);
    const all = (await listEvents(prisma, id, { limit: 1000 })).map((e) => e.seq);
    assert.deepEqual(all, Array.from({ length: n + 3 }, (_, i) => i + 1));
    assert.ok(extra.seq >= n + 2);
  });

  it("rejects an event for a job that does not exist", async () => {
    await assert.rejects(appendEvent(prisma, randomUUID(), { type: "job.log" }));
  });
});
