// No lost work: cancel ends a running job within 5 s with nothing left behind; a worker killed with -9 during
// training is replaced and the job resumes from its snapshot to the same final mask as an uninterrupted run;
// after Redis loses the queue's keys, a restarted worker's reconciler enqueues the job again and it completes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeNpz } from "../../src/checkpoint/npz.js";
import { requestCancel } from "../../src/db/jobs.repository.js";
import { deletePrefixKeys, heldoutSlice, jobSpec, putCheckpoint, putDataFile, startWorker, stories260K, submit, waitFor, waitForStatus, workerEnv, type WorkerEnv } from "./helpers.js";

function spec(checkpointId: string, evalFile: string, training: Record<string, unknown> = {}) {
  return jobSpec({
    source: { checkpoint_id: checkpointId },
    prior: "magnitude",
    calibration: { dataset: "builtin:tinystories", samples: 8, seq_len: 64 },
    training: { steps: 30, batch_size: 2, snapshot_every: 10, seed: 11, ...training },
    eval: { datasets: [`file:${evalFile}`], seq_len: 64 },
  });
}

async function masksOf(e: WorkerEnv, jobId: string): Promise<Map<string, string>> {
  const a = await e.prisma.artifact.findFirstOrThrow({ where: { jobId, kind: "mask_npz" } });
  const chunks: Buffer[] = [];
  for await (const c of await e.store.get(a.storageKey)) chunks.push(c as Buffer);
  const out = new Map<string, string>();
  for (const [k, v] of decodeNpz(Buffer.concat(chunks))) out.set(k, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString("base64"));
  return out;
}

const snapshotted = (e: WorkerEnv, jobId: string) =>
  waitFor(`a snapshot of ${jobId}`, () => e.prisma.jobEvent.findFirst({ where: { jobId, type: "job.snapshot" } }), 90_000, 100);

test("cancel, kill -9 + resume, Redis data loss + reconcile", { timeout: 300_000 }, async (t) => {
  const e = await workerEnv(t);
  const checkpointId = await putCheckpoint(e, await stories260K());
  const evalFile = await putDataFile(e, await heldoutSlice(6));

  await t.test("cancel ends a training job cancelled within 5 s, with no artifacts left", async () => {
    const worker = startWorker(t, e.env);
    const jobId = await submit(e, spec(checkpointId, evalFile, { steps: 5000, snapshot_every: 5 }));
    await snapshotted(e, jobId); // training, with a snapshot stored that must go away
    const asked = Date.now();
    assert.equal((await requestCancel(e.prisma, jobId)).outcome, "cancel_requested");
    const job = await waitForStatus(e, jobId, ["cancelled"], 5000, worker);
    t.diagnostic(`cancelled ${Date.now() - asked} ms after the request`);
    assert.ok(job.finishedAt);
    assert.equal(await e.prisma.artifact.count({ where: { jobId } }), 0);
    const left = [];
    for await (const b of e.store.list(`jobs/${jobId}/`)) left.push(b.key);
    assert.deepEqual(left, []);
    worker.kill("SIGKILL");
    await worker.exited;
  });

  let reference: Map<string, string>;
  await t.test("an uninterrupted run (the reference mask)", async () => {
    const worker = startWorker(t, e.env);
    const jobId = await submit(e, spec(checkpointId, evalFile));
    await waitForStatus(e, jobId, ["succeeded"], 90_000, worker);
    reference = await masksOf(e, jobId);
    worker.kill("SIGKILL");
    await worker.exited;
  });

  await t.test("kill -9 during training: a new worker resumes from the snapshot and ends with the same mask", async () => {
    const first = startWorker(t, e.env);
    const jobId = await submit(e, spec(checkpointId, evalFile));
    await snapshotted(e, jobId);
    first.kill("SIGKILL");
    await first.exited;
    const second = startWorker(t, e.env);
    const job = await waitForStatus(e, jobId, ["succeeded"], 90_000, second);
    const training = (job.metrics as { training: { startStep: number } }).training;
    assert.ok(training.startStep >= 10, `resumed from step ${training.startStep}`);
    assert.deepEqual(await masksOf(e, jobId), reference);
    const events = await e.prisma.jobEvent.findMany({ where: { jobId }, orderBy: { seq: "asc" } });
    assert.ok(events.some((ev) => ev.type === "job.retrying" && /interrupted/.test(ev.message ?? "")));
    second.kill("SIGKILL");
    await second.exited;
  });

  await t.test("Redis loses the queue's keys during a run: the reconciler enqueues the job again and it completes", async () => {
    const first = startWorker(t, e.env);
    const jobId = await submit(e, spec(checkpointId, evalFile));
    await snapshotted(e, jobId);
    first.kill("SIGKILL");
    await first.exited;
    assert.ok((await deletePrefixKeys(e.redis, e.prefix)) > 0);
    assert.equal(await e.queue.getJob(jobId), undefined);
    const second = startWorker(t, e.env);
    const job = await waitForStatus(e, jobId, ["succeeded"], 90_000, second);
    assert.ok((job.metrics as { training: { startStep: number } }).training.startStep >= 10);
    assert.deepEqual(await masksOf(e, jobId), reference);
    second.kill("SIGKILL");
    await second.exited;
  });
});
