// The CLI's API client against the real /v1 API (test database, Redis, local blob store): upload a folder as a
// streamed multipart request, submit from a spec file, follow a job over SSE while a simulated worker moves it
// (the same repository calls the worker makes), read metrics, download artifacts, and map every failure to
// the exit code and message the CLI prints.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../../../src/cli/client/api-client.js";
import { ApiError, CliError } from "../../../src/cli/client/errors.js";
import { EXIT } from "../../../src/cli/client/exit-codes.js";
import { followJobs } from "../../../src/cli/client/follow.js";
import { buildJobBody } from "../../../src/cli/client/job-spec-input.js";
import type { ProgressBoard } from "../../../src/cli/client/progress.js";
import { watchJob } from "../../../src/cli/client/watch.js";
import { uploadCheckpointDir } from "../../../src/cli/commands/checkpoints.js";
import { downloadArtifacts } from "../../../src/cli/commands/jobs.js";
import { jobMaskKey, jobModelKey } from "../../../src/storage/index.js";
import { appendEvent } from "../../../src/db/jobs.repository.js";
import { setStage, transition } from "../../../src/db/transitions.js";
import type { App } from "../../../src/api/app.js";
import { newTenant, prisma, TINY_CONFIG, TINY_WEIGHTS, v1App, type TestTenant } from "../../helpers/v1-api.js";

let app: App;
let tenant: TestTenant;
let client: ApiClient;
let apiUrl: string;
let dir: string;
let checkpointId: string;
const closers: Array<() => unknown> = [];

before(async () => {
  app = await v1App({ after: (fn: () => unknown) => void closers.push(fn) } as never);
  apiUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  tenant = await newTenant();
  client = new ApiClient({ apiUrl, apiKey: tenant.key });
  dir = await mkdtemp(join(tmpdir(), "maskforge-cli-"));
  await writeFile(join(dir, "config.json"), JSON.stringify(TINY_CONFIG));
  await writeFile(join(dir, "model.safetensors"), TINY_WEIGHTS);
  await writeFile(join(dir, ".hidden"), "not part of the checkpoint");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  for (const close of closers) await close();
});

/** What a worker does to a job, through the same repository functions. */
async function runFakeWorker(jobId: string, steps: number) {
  await transition(prisma, jobId, ["queued"], "running");
  await setStage(prisma, jobId, "training", { progress: 0.1 });
  for (let step = 1; step <= steps; step++) await appendEvent(prisma, jobId, { type: "job.metrics", data: { step, steps, loss: 4 / step, tau: 4 - step * 0.5, maskChange: 0.1 / step } });
  await transition(prisma, jobId, ["running"], "succeeded", { metrics: { eval: [{ dataset: "builtin:tinystories-heldout", densePerplexity: 10, sparsePerplexity: 12 }] } });
}

const silentBoard = (): ProgressBoard & { rows: Map<string, string>; lines: string[] } => {
  const rows = new Map<string, string>();
  const lines: string[] = [];
  return { rows, lines, set: (k, _l, r) => void rows.set(k, `${r.fraction} ${r.info}`), log: (l) => void lines.push(l), stop() {} };
};

describe("maskforge API client", () => {
  it("uploads a model folder as one streamed multipart request (hidden files left out) and gets a ready checkpoint", async () => {
    const ckpt = await uploadCheckpointDir(client, dir, { quiet: true });
    assert.equal(ckpt.status, "ready");
    assert.deepEqual(ckpt.files?.map((f) => f.name).sort(), ["config.json", "model.safetensors"]);
    assert.equal(Number(ckpt.bytes), JSON.stringify(TINY_CONFIG).length + TINY_WEIGHTS.length);
    checkpointId = ckpt.id;
  });

  it("submits jobs/maskllm-2-4-stories260k.json with the checkpoint and --steps filled in", async () => {
    const body = await buildJobBody({ file: "jobs/maskllm-2-4-stories260k.json", checkpoint: checkpointId, steps: 7 });
    const job = await client.createJob(body);
    assert.equal(job.status, "queued");
    assert.equal((job.spec as { training: { steps: number } }).training.steps, 7);
    assert.deepEqual((job.spec as { source: unknown }).source, { checkpoint_id: checkpointId });
    // same idempotency key, same body: the same job back
    const again = await client.createJob(body, { idempotencyKey: `k-${job.id}` });
    const replay = await client.createJob(body, { idempotencyKey: `k-${job.id}` });
    assert.equal(replay.id, again.id);
    await client.cancelJob(job.id);
    await client.cancelJob(again.id);
  });

  it("follows a job over SSE to its end: every metrics event in order, the final status, progress rows", async () => {
    const body = await buildJobBody({ file: "jobs/maskllm-2-4-stories260k.json", checkpoint: checkpointId, steps: 3 });
    const job = await client.createJob(body);
    const seen: string[] = [];
    const metrics: number[] = [];
    const board = silentBoard();
    const following = followJobs(client, [job], board, { pollMs: 200, onMetrics: (_id, m) => metrics.push(m.step as number) });
    const watching = watchJob(client, job.id, { pollMs: 200, onEvent: (e) => seen.push(e.type) });
    await new Promise((r) => setTimeout(r, 300));
    await runFakeWorker(job.id, 3);
    const [done] = await following;
    const watched = await watching;
    assert.equal(done.status, "succeeded");
    assert.equal(watched.status, "succeeded");
    assert.deepEqual(metrics, [1, 2, 3]);
    assert.deepEqual(seen.filter((t) => t !== "job.created"), ["job.started", "job.stage", "job.metrics", "job.metrics", "job.metrics", "job.succeeded"]);
    assert.match(board.rows.get(job.id)!, /^1 succeeded/);
    assert.ok(board.lines.some((l) => /stage training/.test(l)), board.lines.join("\n"));

    const m = await client.jobMetrics(job.id);
    assert.deepEqual(m.points.map((p) => p.step), [1, 2, 3]);
    assert.ok(m.series.includes("loss") && m.series.includes("tau") && m.series.includes("maskChange"));
    // a finished job returns at once, without opening a stream
    assert.equal((await watchJob(client, job.id, { pollMs: 10_000 })).status, "succeeded");
  });

  it("falls back to polling when there is no event stream", async () => {
    const job = await client.createJob(await buildJobBody({ checkpoint: checkpointId, method: "magnitude" }));
    const watching = watchJob(client, job.id, { pollMs: 100, noStream: true });
    await transition(prisma, job.id, ["queued"], "running");
    await transition(prisma, job.id, ["running"], "failed", { error: { code: "invalid_spec", message: "bad" } });
    const done = await watching;
    assert.equal(done.status, "failed");
    assert.deepEqual(done.error, { code: "invalid_spec", message: "bad" });
  });

  it("jobs download puts the learned logits in masks/, out of the model folder, as `maskforge prune` does; the mask's logits download reads them where the worker stores them", async () => {
    const job = await client.createJob(await buildJobBody({ checkpoint: checkpointId, method: "magnitude" }));
    const model = await app.storage.put(jobModelKey(job.id, "model.safetensors"), TINY_WEIGHTS, { contentType: "application/octet-stream" });
    const logits = await app.storage.put(jobMaskKey(job.id, "mask_logits.safetensors"), Buffer.from("logits"), { contentType: "application/octet-stream" });
    for (const [kind, name, put] of [["model_file", "model.safetensors", model], ["mask_logits", "mask_logits.safetensors", logits]] as const)
      await prisma.artifact.create({ data: { jobId: job.id, kind, name, storageKey: put.key, bytes: BigInt(put.bytes), sha256: put.sha256 } });
    const mask = await prisma.maskArtifact.create({ data: { tenantId: tenant.id, pattern: "2:4", method: "maskllm", jobId: job.id, logitsKey: logits.key } });
    const out = await mkdtemp(join(tmpdir(), "maskforge-dl-"));
    try {
      await downloadArtifacts(client, await client.jobArtifacts(job.id), out, true);
      assert.deepEqual((await readdir(out, { recursive: true })).sort(), ["masks", "masks/mask_logits.safetensors", "model.safetensors"]);
      await client.download(`/v1/masks/${mask.id}/download?format=logits`, join(out, "via-mask"));
      assert.equal(await readFile(join(out, "via-mask"), "utf8"), "logits");
    } finally {
      await rm(out, { recursive: true, force: true });
      await client.cancelJob(job.id).catch(() => {});
    }
  });

  it("downloads an artifact through a temporary file, byte for byte", async () => {
    const job = await client.createJob(await buildJobBody({ checkpoint: checkpointId, method: "magnitude" }));
    const bytes = Buffer.from("mask bytes ".repeat(5000));
    const put = await app.storage.put(`jobs/${job.id}/mask_compressed.npz`, bytes, { contentType: "application/octet-stream" });
    await prisma.artifact.create({ data: { jobId: job.id, kind: "mask_npz", name: "mask_compressed.npz", storageKey: put.key, bytes: BigInt(put.bytes), sha256: put.sha256 } });
    const [a] = await client.jobArtifacts(job.id);
    const out = await mkdtemp(join(tmpdir(), "maskforge-dl-"));
    try {
      const seen: number[] = [];
      const r = await client.download(a.downloadUrl!, join(out, a.name), { onProgress: (got) => seen.push(got) });
      assert.equal(r.bytes, bytes.length);
      assert.deepEqual(await readFile(join(out, a.name)), bytes);
      assert.equal(seen[seen.length - 1], bytes.length);
      assert.deepEqual(await readdir(out), ["mask_compressed.npz"], "no temporary file left");
      await assert.rejects(client.download(`/v1/artifacts/${crypto.randomUUID()}/download`, join(out, "x")), (e: CliError) => e.exitCode === EXIT.notFound);
      assert.deepEqual(await readdir(out), ["mask_compressed.npz"], "a failed download writes nothing");
    } finally {
      await rm(out, { recursive: true, force: true });
      await client.cancelJob(job.id).catch(() => {});
    }
  });

  it("maps failures to exit codes with the problem's detail and a hint", async () => {
    const bad = new ApiClient({ apiUrl, apiKey: "mf_notakeyatall0000000000000000000000000000" });
    await assert.rejects(bad.listJobs(), (e: ApiError) => e.exitCode === EXIT.auth && /401/.test(e.message) && /MASKFORGE_API_KEY/.test(e.message));
    await assert.rejects(new ApiClient({ apiUrl }).listJobs(), (e: ApiError) => e.exitCode === EXIT.auth && /Bearer/.test(e.message));
    await assert.rejects(client.getJob(crypto.randomUUID()), (e: ApiError) => e.exitCode === EXIT.notFound && /no job/.test(e.message) && /request id/.test(e.message));
    const job = await client.createJob(await buildJobBody({ checkpoint: checkpointId, method: "magnitude" }));
    assert.equal((await client.cancelJob(job.id)).outcome, "cancelled");
    await assert.rejects(client.cancelJob(job.id), (e: ApiError) => e.exitCode === EXIT.conflict && /already finished/.test(e.message));
    // a spec the local check passes but the API refuses (unknown checkpoint): field errors are listed
    await assert.rejects(client.createJob(await buildJobBody({ checkpoint: crypto.randomUUID(), method: "magnitude" })), (e: ApiError) => e.status === 422 && /\/source\/checkpoint_id/.test(e.message));
    await assert.rejects(new ApiClient({ apiUrl: "http://127.0.0.1:9", apiKey: tenant.key }).listJobs(), (e: CliError) => e.exitCode === EXIT.unavailable && /cannot reach/.test(e.message));
  });

  it("refuses bad specs locally with their JSON paths (exit 2), before any request", async () => {
    const usage = (e: CliError) => e.exitCode === EXIT.usage;
    await assert.rejects(buildJobBody({ file: "jobs/maskllm-2-4-stories260k.json" }), (e: CliError) => usage(e) && /placeholder checkpoint id/.test(e.message));
    await assert.rejects(buildJobBody({}), (e: CliError) => usage(e) && /--checkpoint/.test(e.message));
    await assert.rejects(buildJobBody({ checkpoint: checkpointId, pattern: "4:2" }), (e: CliError) => usage(e) && /\/pattern/.test(e.message));
    await assert.rejects(buildJobBody({ file: "jobs/does-not-exist.json" }), usage);
    // a maskllm file switched to a one-shot method drops its prior and training instead of failing
    const body = await buildJobBody({ file: "jobs/maskllm-2-4-stories260k.json", checkpoint: checkpointId, method: "sparsegpt" });
    assert.equal(body.training, undefined);
    assert.equal(body.prior, undefined);
    await assert.rejects(buildJobBody({ file: "jobs/sparsegpt-baseline.json", checkpoint: checkpointId, steps: 5 }), (e: CliError) => usage(e) && /\/training/.test(e.message));
  });
});
