// End to end through the real parts: Postgres, Redis, s3rver and the worker as a child process with its
// sandboxed processor. A MaskLLM 2:4 job on stories260K (uploaded checkpoint) runs to succeeded; the exported
// folder is downloaded and loaded with our loader, its zeros are exactly 2:4 and its perplexity equals the
// one the job reported.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../src/maskllm/backend.js";
import { loadModelDir } from "../../src/checkpoint/load.js";
import { evalWindows, readDocuments, tokenizeStream } from "../../src/checkpoint/text-dataset.js";
import { perplexity } from "../../src/maskllm/eval/perplexity.js";
import { disposeModel } from "../../src/maskllm/llama/model.js";
import { isExactNM } from "../../src/maskllm/mask/patterns.js";
import { EVAL_BATCH_SIZE } from "../../src/worker/pipeline.js";
import { heldoutSlice, jobSpec, putCheckpoint, putDataFile, removeDir, startWorker, stories260K, submit, waitForStatus, workerEnv, type WorkerEnv } from "./helpers.js";

const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

export function smallMaskllm(source: Record<string, unknown>, evalFile: string, extra: Record<string, unknown> = {}) {
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

async function download(e: WorkerEnv, jobId: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mf-e2e-dl-"));
  const prefix = `jobs/${jobId}/model/`;
  for await (const b of e.store.list(prefix)) {
    const chunks: Buffer[] = [];
    for await (const c of await e.store.get(b.key)) chunks.push(c as Buffer);
    const path = join(dir, b.key.slice(prefix.length));
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, Buffer.concat(chunks));
  }
  return dir;
}

/** Checks the downloaded model against what the job reported; returns its hard masks' digest material. */
export async function checkExport(e: WorkerEnv, jobId: string, srcDir: string, evalText: string): Promise<Map<string, Uint8Array>> {
  await initBackend("wasm");
  const job = await e.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
  const metrics = job.metrics as { sparsePerplexity: number; densePerplexity: number; eval: { windows: number }[] };
  const dir = await download(e, jobId);
  try {
    assert.equal(await readFile(join(dir, "config.json"), "utf8"), await readFile(join(srcDir, "config.json"), "utf8"), "config.json unchanged");
    const sidecar = JSON.parse(await readFile(join(dir, "sparsity.json"), "utf8"));
    assert.equal(sidecar.pattern, "2:4");
    assert.ok(sidecar.layers.length > 0 && sidecar.layers.every((l: { nmVerified: boolean }) => l.nmVerified));
    assert.match(await readFile(join(dir, "README.md"), "utf8"), /2:4 semi-structured sparse/);
    const { model, tokenizer } = await loadModelDir(dir);
    try {
      const masks = new Map<string, Uint8Array>();
      for (const [name, w] of model.weights) {
        if (!TARGETS.some((t) => name.includes(`.${t}.`))) continue;
        const values = w.dataSync() as Float32Array;
        assert.ok(isExactNM(values, w.shape[1]!, { n: 2, m: 4 }), `${name} is exactly 2:4`);
        masks.set(name, Uint8Array.from(values, (x) => (x !== 0 ? 1 : 0)));
      }
      assert.equal(masks.size, 5 * 7);
      const windows = evalWindows(tokenizeStream(tokenizer, readDocuments(evalText, "stories"), { bos: tokenizer.bosId }), 64);
      assert.equal(windows.length, metrics.eval[0].windows);
      const ppl = perplexity(model, windows, { batchSize: EVAL_BATCH_SIZE }).perplexity;
      // same windows, batch and backend; only the last bits of the float64 sum may differ between processes
      assert.ok(Math.abs(ppl - metrics.sparsePerplexity) <= 1e-9 * metrics.sparsePerplexity, `perplexity ${ppl} of the download != reported ${metrics.sparsePerplexity}`);
      assert.ok(metrics.sparsePerplexity > metrics.densePerplexity);
      return masks;
    } finally {
      disposeModel(model);
    }
  } finally {
    await removeDir(dir);
  }
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
