// The job_change_notify triggers and the JobChangeListener against the real test database: which writes are
// announced (job updates and deletes, result artifacts; not snapshots), and that the listener says when it
// stops and starts listening, reconnecting after the server drops it.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createJob, updateProgress } from "../../src/db/jobs.repository.js";
import { transition } from "../../src/db/transitions.js";
import { JobChangeListener, LISTENER_APPLICATION_NAME } from "../../src/db/job-change-listener.js";
import { testConfig } from "../helpers/config.js";
import { spec, testDb } from "../helpers/db.js";

const { prisma, tenant } = testDb();
const url = testConfig().databaseUrl;

/** A started listener that records what it hears. */
function recorder(databaseUrl = url, reconnect = { minMs: 50, maxMs: 200 }) {
  const changes: string[] = [];
  const states: string[] = [];
  const listener = new JobChangeListener(
    databaseUrl,
    { onChange: (id) => changes.push(id), onListening: () => states.push("listening"), onLost: () => states.push("lost") },
    reconnect,
  );
  listener.start();
  after(() => listener.stop());
  return { listener, changes, states };
}

async function until(what: string, cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits for `id` to be announced after `write` (every earlier change of `id` must have been heard already). */
async function announced(changes: string[], id: string, write: () => Promise<unknown>) {
  changes.length = 0;
  await write();
  await until(`${id} is announced`, () => changes.includes(id));
}

/** A job whose own creation was already heard, with the record emptied after: later changes stand alone. */
async function quietJob(changes: string[]) {
  const id = (await createJob(prisma, await tenant(), spec())).job.id;
  await until("the new job's first event is heard", () => changes.includes(id)); // writeEvent bumps its eventSeq
  changes.length = 0;
  return id;
}

describe("job change notifications", () => {
  it("announce job updates (worker transitions, progress) and deletes, and result artifacts, but not snapshots", async () => {
    const { listener, changes } = recorder();
    await until("listening", () => listener.listening);
    const job = { id: await quietJob(changes) };
    await announced(changes, job.id, () => transition(prisma, job.id, ["queued"], "running"));
    await announced(changes, job.id, () => updateProgress(prisma, job.id, { progress: 0.5 }));
    await announced(changes, job.id, () => prisma.artifact.create({ data: { jobId: job.id, kind: "report", name: "r.json", storageKey: `jobs/${job.id}/r-${randomUUID()}`, bytes: 1n, sha256: "x" } }));
    await announced(changes, job.id, () => prisma.artifact.deleteMany({ where: { jobId: job.id } }));

    // a snapshot is not a result: storing one says nothing. Notifications arrive in commit order, so once a
    // change committed after the insert is heard, the insert's would have been heard too.
    const sentinel = await quietJob(changes);
    await prisma.artifact.create({ data: { jobId: job.id, kind: "snapshot", name: "s.bin", storageKey: `jobs/${job.id}/s-${randomUUID()}`, bytes: 1n, sha256: "x" } });
    await prisma.job.update({ where: { id: sentinel }, data: { progress: 0.1 } });
    await until("the later change is heard", () => changes.includes(sentinel));
    assert.ok(!changes.includes(job.id), "the snapshot insert was not announced");

    await announced(changes, job.id, () => prisma.job.delete({ where: { id: job.id } }));
  });

  it("announces a change once per transaction, at commit", async () => {
    const { listener, changes } = recorder();
    await until("listening", () => listener.listening);
    const job = { id: await quietJob(changes) };
    await announced(changes, job.id, () => transition(prisma, job.id, ["queued"], "running"));
    const sentinel = await quietJob(changes);
    // one transaction that updates the row twice (the status, then eventSeq for its event)
    await transition(prisma, job.id, ["running"], "cancelled");
    await prisma.job.update({ where: { id: sentinel }, data: { progress: 0.2 } });
    await until("the later change is heard", () => changes.includes(sentinel));
    assert.equal(changes.filter((c) => c === job.id).length, 1);
  });

  it("reports the loss when the server drops the connection, and listens again after reconnecting", async () => {
    const { listener, changes, states } = recorder();
    await until("listening", () => listener.listening);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    after(() => admin.end());
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [LISTENER_APPLICATION_NAME]);
    await until("the loss is reported", () => states.includes("lost"));
    await until("listening again", () => listener.listening);
    assert.deepEqual(states.slice(0, 3), ["listening", "lost", "listening"]);
    const job = { id: await quietJob(changes) };
    await announced(changes, job.id, () => prisma.job.update({ where: { id: job.id }, data: { progress: 0.3 } }));
  });

  it("keeps retrying, without ever saying it listens, while the database is unreachable", async () => {
    const { listener, states } = recorder("postgresql://postgres@127.0.0.1:1/maskforge_test", { minMs: 20, maxMs: 40 });
    await until("a few attempts failed", () => states.length >= 3);
    assert.ok(states.every((s) => s === "lost"), states.join());
    assert.equal(listener.listening, false);
    await listener.stop();
    const n = states.length;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(states.length, n, "no attempts after stop()");
  });
});
