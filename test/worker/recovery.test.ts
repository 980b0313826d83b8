// No lost work, with three worker processes in all (each one's start costs seconds of module loading):
// worker A cancels a training job within 5 s with nothing left behind while it runs the reference job, then is
// killed with -9 during training of job K; worker B's reconciler hands K back and K resumes from its snapshot to
// the same final mask as the uninterrupted reference; B is killed with -9 during job L and Redis loses the queue's
// keys; worker C's reconciler enqueues L again and it completes, again with the reference's mask. Finally C gets
// SIGTERM during training: the job trains on to its next snapshot, goes back to the queue and C exits 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeNpz } from "../../src/checkpoint/npz.js";
import { requestCancel } from "../../src/db/jobs.repository.js";
import { deletePrefixKeys, heldoutSlice, jobSpec, putCheckpoint, putDataFile, startWorker, stories260K, submit, waitFor, waitForStatus, workerEnv, type WorkerEnv, type WorkerProcess } from "../helpers/worker.js";

const STEPS = 20;
const SNAPSHOT_EVERY = 4;

function spec(checkpointId: string, evalFile: string, training: Record<string, unknown> = {}) {
  return jobSpec({
    source: { checkpoint_id: checkpointId },
    prior: "magnitude",
    calibration: { dataset: "builtin:tinystories", samples: 8, seq_len: 64 },
    training: { steps: STEPS, batch_size: 2, snapshot_every: SNAPSHOT_EVERY, seed: 11, ...training },
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
  waitFor(`a snapshot of ${jobId}`, () => e.prisma.jobEvent.findFirst({ where: { jobId, type: "job.snapshot" } }), 120_000, 50);

async function kill9(w: WorkerProcess): Promise<void> {
  w.kill("SIGKILL");
  await w.exited;
}

test("cancel, kill -9 + resume, Redis data loss + reconcile", { timeout: 400_000 }, async (t) => {
  const e = await workerEnv(t, { WORKER_CONCURRENCY: "2" });
  const checkpointId = await putCheckpoint(e, await stories260K());
  const evalFile = await putDataFile(e, await heldoutSlice(2));
  const workerA = startWorker(t, e.env);
  // the reference runs in A's second sandbox while the first one trains the job that gets cancelled
  const cancelJob = await submit(e, spec(checkpointId, evalFile, { steps: 5000, snapshot_every: 2 }));
  const referenceJob = await submit(e, spec(checkpointId, evalFile));
  let reference: Map<string, string>;
  let workerB: WorkerProcess;
  let workerC: WorkerProcess;

  await t.test("an uninterrupted run (the reference mask)", async () => {
    await waitForStatus(e, referenceJob, ["succeeded"], 200_000, workerA);
    reference = await masksOf(e, referenceJob);
  });

  await t.test("cancel ends a training job cancelled within 5 s, with no artifacts left", async () => {
    await snapshotted(e, cancelJob); // training, with a snapshot stored that must go away
    const asked = Date.now();
    assert.equal((await requestCancel(e.prisma, cancelJob)).outcome, "cancel_requested");
    const job = await waitForStatus(e, cancelJob, ["cancelled"], 5000, workerA);
    t.diagnostic(`cancelled ${Date.now() - asked} ms after the request`);
    assert.ok(job.finishedAt);
    assert.equal(await e.prisma.artifact.count({ where: { jobId: cancelJob } }), 0);
    const left = [];
    for await (const b of e.store.list(`jobs/${cancelJob}/`)) left.push(b.key);
    assert.deepEqual(left, []);
  });

  await t.test("kill -9 during training: a new worker resumes from the snapshot and ends with the same mask", async () => {
    const killedJob = await submit(e, spec(checkpointId, evalFile));
    await snapshotted(e, killedJob);
    await kill9(workerA);
    workerB = startWorker(t, e.env);
    const job = await waitForStatus(e, killedJob, ["succeeded"], 200_000, workerB);
    const training = (job.metrics as { training: { startStep: number } }).training;
    assert.ok(training.startStep >= SNAPSHOT_EVERY && training.startStep < STEPS, `resumed from step ${training.startStep}`);
    assert.deepEqual(await masksOf(e, killedJob), reference);
    const events = await e.prisma.jobEvent.findMany({ where: { jobId: killedJob }, orderBy: { seq: "asc" } });
    assert.ok(events.some((ev) => ev.type === "job.retrying" && /interrupted/.test(ev.message ?? "")));
  });

  await t.test("Redis loses the queue's keys during a run: the reconciler enqueues the job again and it completes", async () => {
    const lostJob = await submit(e, spec(checkpointId, evalFile));
    await snapshotted(e, lostJob);
    await kill9(workerB);
    assert.ok((await deletePrefixKeys(e.redis, e.prefix)) > 0);
    assert.equal(await e.queue.getJob(lostJob), undefined);
    workerC = startWorker(t, e.env);
    const lost = await waitForStatus(e, lostJob, ["succeeded"], 200_000, workerC);
    const startStep = (lost.metrics as { training: { startStep: number } }).training.startStep;
    assert.ok(startStep >= SNAPSHOT_EVERY && startStep < STEPS, `resumed from step ${startStep}`);
    assert.deepEqual(await masksOf(e, lostJob), reference);
  });

  await t.test("SIGTERM during training: a snapshot at the next snapshot step, the job back in the queue, exit 0", async () => {
    const jobId = await submit(e, spec(checkpointId, evalFile, { steps: 400, snapshot_every: 12 }));
    const first = await snapshotted(e, jobId);
    workerC.signal("SIGTERM");
    const code = await Promise.race([workerC.exited, new Promise((r) => setTimeout(() => r("still running"), 40_000).unref())]);
    assert.equal(code, 0, workerC.output());
    const job = await e.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    assert.equal(job.status, "queued");
    const events = await e.prisma.jobEvent.findMany({ where: { jobId }, orderBy: { seq: "asc" } });
    const last = events.filter((ev) => ev.type === "job.snapshot").at(-1)!;
    assert.equal((last.data as { reason?: string }).reason, "shutdown", "the last snapshot was taken for the hand-back");
    assert.ok((last.data as { step: number }).step > (first.data as { step: number }).step);
    assert.ok(events.some((ev) => ev.type === "job.retrying" && (ev.data as { reason?: string }).reason === "shutdown"));
    assert.ok(["delayed", "waiting"].includes(await (await e.queue.getJob(jobId))!.getState()), "back in the queue for another worker");
  });
});
