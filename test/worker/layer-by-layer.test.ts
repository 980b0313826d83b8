// One-shot jobs whose in-memory estimate is over the worker's limit run layer by layer, end to end through a real
// worker (Postgres, Redis, s3rver): stories260K with a calibration set large enough that, under a 72 MiB limit, the
// in-memory estimate is over and the layer-by-layer one under. The same magnitude, Wanda and SparseGPT jobs run in
// memory first (a worker with the default limit) as the reference: the layer-by-layer exports load everywhere, hold
// the same masks (magnitude exactly, Wanda ≥ 99.9%, SparseGPT ≥ 99% of entries) and report the same perplexities
// (1e-3). A job over both estimates is refused with both; a cancelled one leaves nothing behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMaskNpz } from "../../src/checkpoint/mask-npz.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { requestCancel } from "../../src/db/jobs.repository.js";
import { readBlob } from "../../src/worker/files.js";
import { checkExport } from "../helpers/export-check.js";
import { heldoutSlice, jobSpec, putCheckpoint, putDataFile, removeDir, startWorker, stories260K, submit, waitFor, waitForStatus, workerEnv, type WorkerEnv } from "../helpers/worker.js";

const LIMIT = 72 * 1024 ** 2;
const METHODS = [["magnitude", 1], ["wanda", 0.999], ["sparsegpt", 0.99]] as const;

const spec = (checkpointId: string, method: string, evalDataset: string, samples = 1024) =>
  jobSpec({
    source: { checkpoint_id: checkpointId }, method, pattern: "2:4",
    calibration: { dataset: "builtin:tinystories", samples, seq_len: 64 },
    eval: { datasets: [evalDataset], seq_len: 64 },
  });

async function jobMasks(e: WorkerEnv, jobId: string, numel: Map<string, number>): Promise<Map<string, Uint8Array>> {
  const art = await e.prisma.artifact.findFirstOrThrow({ where: { jobId, kind: "mask_npz" } });
  return decodeMaskNpz(await readBlob(e.store, art.storageKey), numel, { require: true });
}

const agreement = (a: Uint8Array, b: Uint8Array) => {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

test("one-shot jobs over the in-memory estimate run layer by layer: same masks and perplexities, loadable exports; refusal with both estimates; cancel", { timeout: 600_000 }, async (t) => {
  const src = await stories260K();
  const e = await workerEnv(t, { TRAIN_THREADS: "2" });
  const checkpointId = await putCheckpoint(e, src);
  const evalText = await heldoutSlice(3);
  const evalFile = `file:${await putDataFile(e, evalText)}`;
  const reader = await CheckpointReader.open(src);
  const numel = new Map<string, number>();
  for (const name of reader.names) if (/\.(q|k|v|o|gate|up|down)_proj\.weight$/.test(name)) numel.set(name, (await reader.entry(name)).shape.reduce((a, b) => a * b, 1));
  await reader.close();

  // the reference: the same jobs in memory, on a worker with the default limit
  const reference = new Map<string, string>();
  for (const [method] of METHODS) reference.set(method, await submit(e, spec(checkpointId, method, evalFile)));
  const inMemory = startWorker(t, e.env);
  for (const id of reference.values()) await waitForStatus(e, id, ["succeeded"], 240_000, inMemory);
  inMemory.kill("SIGKILL");
  await inMemory.exited;

  const jobsTmp = await mkdtemp(join(tmpdir(), "mf-lbl-worker-"));
  t.after(() => removeDir(jobsTmp));
  const streamed = new Map<string, string>();
  for (const [method] of METHODS) streamed.set(method, await submit(e, spec(checkpointId, method, evalFile)));
  const tooBig = await submit(e, spec(checkpointId, "sparsegpt", evalFile, 4096));
  // a long evaluation (Wikitext-2) keeps this one running until it is cancelled
  const cancelled = await submit(e, spec(checkpointId, "sparsegpt", "builtin:wikitext"));
  const worker = startWorker(t, { ...e.env, WORKER_MEMORY_LIMIT_BYTES: String(LIMIT), TMPDIR: jobsTmp });

  for (const [method, least] of METHODS)
    await t.test(`${method} layer by layer`, async () => {
      const id = streamed.get(method)!;
      const job = await waitForStatus(e, id, ["succeeded"], 240_000, worker);
      const ref = await e.prisma.job.findUniqueOrThrow({ where: { id: reference.get(method)! } });
      const m = job.metrics as { execution: string; memoryEstimates: { inMemoryBytes: number; layerByLayerBytes: number }; densePerplexity: number; sparsePerplexity: number };
      const rm = ref.metrics as typeof m;
      assert.equal(m.execution, "layer-by-layer");
      assert.equal(rm.execution, "in-memory");
      assert.ok(m.memoryEstimates.inMemoryBytes > LIMIT && m.memoryEstimates.layerByLayerBytes <= LIMIT, JSON.stringify(m.memoryEstimates));
      const events = await e.prisma.jobEvent.findMany({ where: { jobId: id, type: "job.log" }, orderBy: { seq: "asc" } });
      assert.ok(events.some((ev) => ev.message?.startsWith("running layer by layer: in memory the job needs about")), "a log event says why");
      assert.deepEqual(events.filter((ev) => / pruned$/.test(ev.message ?? "")).map((ev) => ev.message), [1, 2, 3, 4, 5].map((l) => `layer ${l}/5 pruned`), "one progress event per layer");
      for (const k of ["densePerplexity", "sparsePerplexity"] as const)
        assert.ok(Math.abs(m[k] - rm[k]) <= 1e-3 * rm[k], `${k}: layer by layer ${m[k]}, in memory ${rm[k]}`);
      const masks = await jobMasks(e, id, numel);
      const refMasks = await jobMasks(e, ref.id, numel);
      let lowest = 1;
      for (const [name, mask] of masks) {
        const agree = agreement(mask, refMasks.get(name)!);
        lowest = Math.min(lowest, agree);
        assert.ok(agree >= least, `${name}: ${(agree * 100).toFixed(3)}% of the mask agrees with the in-memory job's`);
      }
      t.diagnostic(`${method}: masks agree ≥ ${(lowest * 100).toFixed(3)}% per linear; perplexity dense ${m.densePerplexity} vs ${rm.densePerplexity}, sparse ${m.sparsePerplexity} vs ${rm.sparsePerplexity}`);
      await checkExport(e, id, src, evalText, { pplRelTol: 1e-4 });
      // the folder's files and the sidecar's shape are the in-memory job's
      const arts = async (jobId: string) => (await e.prisma.artifact.findMany({ where: { jobId } })).map((a) => `${a.kind}:${a.name}`).sort();
      assert.deepEqual(await arts(id), await arts(ref.id));
      const sidecar = async (jobId: string) => JSON.parse(Buffer.from(await readBlob(e.store, (await e.prisma.artifact.findFirstOrThrow({ where: { jobId, kind: "report" } })).storageKey)).toString("utf8"));
      const [a, b] = [await sidecar(id), await sidecar(ref.id)];
      assert.equal(a.execution, "layer-by-layer");
      assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
      assert.deepEqual(a.layers.map((l: { name: string; shape: number[] }) => [l.name, l.shape]), b.layers.map((l: { name: string; shape: number[] }) => [l.name, l.shape]));
      assert.ok(a.layers.every((l: { nmVerified: boolean; sparsity: number }) => l.nmVerified && l.sparsity >= 0.5));
      assert.equal(a.weights_updated, method === "sparsegpt");
    });

  await t.test("a job over both estimates is refused with both numbers", async () => {
    const job = await waitForStatus(e, tooBig, ["failed"], 120_000, worker);
    const err = job.error as { code: string; message: string };
    assert.equal(err.code, "resource_exhausted");
    const nums = /about ([\d.]+) MiB of memory in memory and ([\d.]+) MiB layer by layer .* both more than this worker's 72\.0 MiB/.exec(err.message);
    assert.ok(nums && Number(nums[1]) > 72 && Number(nums[2]) > 72, err.message);
  });

  await t.test("cancel mid-run: no artifacts, nothing in storage, no staged files", async () => {
    await waitFor("the cancel job's first pruned layer", () => e.prisma.jobEvent.findFirst({ where: { jobId: cancelled, message: "layer 1/5 pruned" } }), 120_000);
    assert.equal((await requestCancel(e.prisma, cancelled)).outcome, "cancel_requested");
    await waitForStatus(e, cancelled, ["cancelled"], 30_000, worker);
    assert.equal(await e.prisma.artifact.count({ where: { jobId: cancelled } }), 0);
    const left: string[] = [];
    for await (const b of e.store.list(`jobs/${cancelled}/`)) left.push(b.key);
    assert.deepEqual(left, []);
    const scratch = await readdir(join(jobsTmp, "maskforge-jobs")).catch(() => []);
    assert.deepEqual(scratch.filter((d) => d.startsWith(cancelled)), [], "the job's scratch folder (staged model included) is gone");
    const stages = (await e.prisma.jobEvent.findMany({ where: { jobId: cancelled, type: "job.stage" } })).map((ev) => (ev.data as { stage: string }).stage);
    assert.ok(stages.includes("calibrating") && !stages.includes("uploading"), `cancelled mid-run (stages ${stages.join(", ")})`);
    t.diagnostic(`cancelled in ${stages[stages.length - 1]}`);
  });
});
