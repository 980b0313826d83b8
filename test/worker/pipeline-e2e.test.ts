// End to end through the real parts: Postgres, Redis, s3rver and one worker child process (two sandboxes)
// running three MaskLLM 2:4 jobs on stories260K, one per kind of source: an uploaded checkpoint, a {url}
// .tar.gz over https from a local server (private sources allowed for the test) and {hf} from a local server
// speaking the Hub API with a token. Each exported folder is downloaded and loaded with our loader: its zeros
// are exactly 2:4 and its perplexity equals the one the job reported. The uploaded-checkpoint job also has a
// webhook: every event it subscribed to reaches a local https receiver, signed per Standard Webhooks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateWebhookSecret, verifyWebhook } from "../../src/contract/webhook.js";
import { startHfHubServer } from "../helpers/hf-hub-server.js";
import { checkExport } from "../helpers/export-check.js";
import { heldoutSlice, jobSpec, putCheckpoint, putDataFile, selfSignedCert, startWorker, stories260K, submit, waitFor, waitForStatus, workerEnv } from "../helpers/worker.js";

const STAGES = ["fetching", "validating", "calibrating", "training", "trimming", "evaluating", "exporting", "uploading"];
const HOOK_EVENTS = ["job.started", "job.stage", "job.artifact", "job.succeeded"];

function smallMaskllm(source: Record<string, unknown>, evalFile: string, extra: Record<string, unknown> = {}, training: Record<string, unknown> = {}) {
  return jobSpec({
    source,
    method: "maskllm",
    pattern: "2:4",
    prior: "magnitude",
    calibration: { dataset: "builtin:tinystories", samples: 8, seq_len: 64 },
    training: { steps: 16, batch_size: 2, snapshot_every: 0, seed: 7, ...training },
    eval: { datasets: [`file:${evalFile}`], seq_len: 64 },
    ...extra,
  });
}

test("uploaded checkpoint, {url} and {hf} sources → MaskLLM 2:4 → exported sparse models with the reported perplexity; signed webhooks", { timeout: 300_000 }, async (t) => {
  const src = await stories260K();
  const work = await mkdtemp(join(tmpdir(), "mf-e2e-"));
  const tls = await selfSignedCert(work);
  execFileSync("tar", ["-czf", join(work, "model.tar.gz"), "-C", join(src, ".."), "hf"]);
  const archive = await readFile(join(work, "model.tar.gz"));
  const hooks: { headers: IncomingHttpHeaders; body: string }[] = [];
  const https = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    if (req.method === "GET" && req.url === "/models/stories.tar.gz") return void res.writeHead(200, { "content-length": archive.length }).end(archive);
    if (req.method === "POST" && req.url === "/hook") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        hooks.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
  t.after(() => https.close());
  const base = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  const hub = await startHfHubServer({ "karpathy/stories260K": { dir: src, token: "hf_test_token" } });
  t.after(() => hub.close());

  const e = await workerEnv(t, { ALLOW_PRIVATE_SOURCES: "true", HF_ENDPOINT: hub.endpoint, WORKER_CONCURRENCY: "2", TRAIN_THREADS: "2" });
  const checkpointId = await putCheckpoint(e, src);
  const evalText = await heldoutSlice(3);
  const evalFile = await putDataFile(e, evalText);
  const webhookSecret = generateWebhookSecret();
  const uploadJob = await submit(
    e,
    smallMaskllm({ checkpoint_id: checkpointId }, evalFile, { prior: "sparsegpt", webhook: { url: `${base}/hook`, events: HOOK_EVENTS } }, { snapshot_every: 8 }),
    { webhookSecret },
  );
  // this one trains its two micro-batches on two threads (TRAIN_THREADS) inside the sandbox
  const urlJob = await submit(e, smallMaskllm({ url: `${base}/models/stories.tar.gz` }, evalFile, {}, { micro_batches: 2 }));
  const hfJob = await submit(e, smallMaskllm({ hf: { repo: "karpathy/stories260K", revision: "main", token: "hf_test_token" } }, evalFile));
  const worker = startWorker(t, { ...e.env, NODE_EXTRA_CA_CERTS: tls.certPath });
  const t0 = Date.now();

  await t.test("uploaded checkpoint", async () => {
    const job = await waitForStatus(e, uploadJob, ["succeeded"], 200_000, worker);
    t.diagnostic(`first job succeeded ${((Date.now() - t0) / 1000).toFixed(1)} s after the worker started; stage seconds ${JSON.stringify((job.metrics as { stageSeconds: unknown }).stageSeconds)}`);
    const events = await e.prisma.jobEvent.findMany({ where: { jobId: uploadJob }, orderBy: { seq: "asc" } });
    assert.deepEqual(events.filter((ev) => ev.type === "job.stage").map((ev) => (ev.data as { stage: string }).stage), STAGES);
    assert.ok(events.some((ev) => ev.type === "job.metrics"), "training metrics events");
    assert.ok(events.some((ev) => ev.type === "job.snapshot"), "a snapshot was taken");
    assert.ok(events.filter((ev) => ev.type === "job.log" && (ev.data as { seconds?: number })?.seconds !== undefined).length >= 8, "each stage's timing");
    assert.equal(job.progress, 1);
    const arts = await e.prisma.artifact.findMany({ where: { jobId: uploadJob } });
    assert.ok(arts.some((a) => a.kind === "mask_npz") && arts.some((a) => a.kind === "mask_logits") && arts.some((a) => a.kind === "report"));
    assert.ok(!arts.some((a) => a.kind === "snapshot"), "the snapshot is dropped once the job succeeded");
    const artifactEvents = events.filter((ev) => ev.type === "job.artifact");
    assert.deepEqual(artifactEvents.map((ev) => (ev.data as { artifactId: string }).artifactId).sort(), arts.map((a) => a.id).sort(), "one job.artifact event per artifact");
    assert.ok(artifactEvents.every((ev) => ev.seq < events.find((x) => x.type === "job.succeeded")!.seq), "artifact events come before the final one");
    const mask = await e.prisma.maskArtifact.findFirstOrThrow({ where: { jobId: uploadJob } });
    assert.equal(mask.baseCheckpointId, checkpointId);
    assert.equal(mask.pattern, "2:4");
    await checkExport(e, uploadJob, src, evalText);

    // every subscribed event, once, signed with the job's secret (the succeeded one may still be on its way)
    const expected = events.filter((ev) => HOOK_EVENTS.includes(ev.type));
    await waitFor("the webhook deliveries", async () => hooks.length >= expected.length, 15_000);
    const payloads = hooks.map((h) => verifyWebhook(webhookSecret, h.headers as Record<string, string>, h.body));
    assert.deepEqual(payloads.map((p) => p.data.seq).sort((a, b) => a - b), expected.map((ev) => ev.seq));
    assert.deepEqual(hooks.map((h) => h.headers["webhook-id"]).sort(), expected.map((ev) => `msg_${uploadJob}_${ev.seq}`).sort());
    const done = payloads.find((p) => p.type === "job.succeeded")!;
    assert.equal(done.data.job_id, uploadJob);
    assert.equal(done.data.status, "succeeded");
    assert.deepEqual([...new Set(payloads.map((p) => p.type))].sort(), [...HOOK_EVENTS].sort(), "each subscribed type, and only those");
  });

  await t.test("{url} .tar.gz over https and {hf} through the Hub API, through the same worker", async () => {
    await waitForStatus(e, urlJob, ["succeeded"], 200_000, worker);
    await waitForStatus(e, hfJob, ["succeeded"], 200_000, worker);
    t.diagnostic(`all three jobs succeeded ${((Date.now() - t0) / 1000).toFixed(1)} s after the worker started`);
    await checkExport(e, urlJob, src, evalText);
    const threadLog = await e.prisma.jobEvent.findFirst({ where: { jobId: urlJob, type: "job.log", message: { startsWith: "training on" } } });
    assert.deepEqual(threadLog?.data, { threads: 2, microBatches: 2 }, "the {url} job trained on two threads");
    await checkExport(e, hfJob, src, evalText);
    assert.ok(hub.requests.some((r) => r.path === "/api/models/karpathy/stories260K/revision/main" && r.authorization === "Bearer hf_test_token"));
    assert.ok(hub.requests.some((r) => r.path === "/cdn/karpathy/stories260K/model.safetensors"), "resolve redirects were followed");
  });
});
