// End to end through the real parts: Postgres, Redis, s3rver and the worker as a child process with its
// sandboxed processor. A MaskLLM 2:4 job on stories260K (uploaded checkpoint) runs to succeeded; the exported
// folder is downloaded and loaded with our loader, its zeros are exactly 2:4 and its perplexity equals the
// one the job reported.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkExport } from "./export-check.js";
import { heldoutSlice, jobSpec, putCheckpoint, putDataFile, startWorker, stories260K, submit, waitForStatus, workerEnv } from "./helpers.js";

function smallMaskllm(source: Record<string, unknown>, evalFile: string, extra: Record<string, unknown> = {}) {
  return jobSpec({
    source,
    method: "maskllm",
    pattern: "2:4",
    prior: "sparsegpt",
    calibration: { dataset: "builtin:tinystories", samples: 8, seq_len: 64 },
    training: { steps: 30, batch_size: 2, snapshot_every: 10, seed: 7 },
    eval: { datasets: [`file:${evalFile}`], seq_len: 64 },
    ...extra,
  });
}

test("uploaded checkpoint → MaskLLM 2:4 → exported sparse model with the reported perplexity", { timeout: 180_000 }, async (t) => {
  const e = await workerEnv(t);
  const src = await stories260K();
  const checkpointId = await putCheckpoint(e, src);
  const evalText = await heldoutSlice(12);
  const evalFile = await putDataFile(e, evalText);
  const jobId = await submit(e, smallMaskllm({ checkpoint_id: checkpointId }, evalFile));
  const worker = startWorker(t, e.env);
  const t0 = Date.now();
  const job = await waitForStatus(e, jobId, ["succeeded"], 150_000, worker);
  t.diagnostic(`job succeeded in ${((Date.now() - t0) / 1000).toFixed(1)} s (worker start included); ${JSON.stringify(job.metrics)}`);

  const events = await e.prisma.jobEvent.findMany({ where: { jobId }, orderBy: { seq: "asc" } });
  const stages = events.filter((ev) => ev.type === "job.stage").map((ev) => (ev.data as { stage: string }).stage);
  assert.deepEqual(stages, ["fetching", "validating", "calibrating", "training", "trimming", "evaluating", "exporting", "uploading"]);
  assert.ok(events.some((ev) => ev.type === "job.metrics"), "training metrics events");
  assert.ok(events.filter((ev) => ev.type === "job.log" && (ev.data as { seconds?: number })?.seconds !== undefined).length >= 8, "each stage's timing");
  assert.equal(job.progress, 1);

  const arts = await e.prisma.artifact.findMany({ where: { jobId } });
  assert.ok(arts.some((a) => a.kind === "mask_npz") && arts.some((a) => a.kind === "mask_logits") && arts.some((a) => a.kind === "report"));
  assert.ok(!arts.some((a) => a.kind === "snapshot"), "the snapshot is dropped once the job succeeded");
  const mask = await e.prisma.maskArtifact.findFirstOrThrow({ where: { jobId } });
  assert.equal(mask.baseCheckpointId, checkpointId);
  assert.equal(mask.pattern, "2:4");

  await checkExport(e, jobId, src, evalText);
});
