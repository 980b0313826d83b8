// Datasets as users have them, through a real worker process: a JSONL chat dataset uploaded as a file (rendered
// with the checkpoint's chat_template) calibrates and evaluates a Wanda job; a Hub dataset ({hf_dataset}, Parquet
// shards picked by split from the fake Hub, with its token) calibrates and evaluates a magnitude job; a JSONL file
// with a bad line fails the job with the line named.
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parquetWriteBuffer } from "hyparquet-writer";
import { readBlob } from "../../src/worker/files.js";
import { startHfHubServer } from "../helpers/hf-hub-server.js";
import { heldoutSlice, jobSpec, putCheckpoint, putDataFile, startWorker, stories260K, submit, waitForStatus, workerEnv } from "../helpers/worker.js";

const TEMPLATE = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}";

test("JSONL chat from an uploaded file and Parquet from {hf_dataset} calibrate and evaluate; a bad JSONL line fails the job", { timeout: 240_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), "mf-ds-jobs-"));
  // stories260K with a chat template
  const chatModel = join(work, "chat-model");
  await cp(await stories260K(), chatModel, { recursive: true });
  const config = JSON.parse(await readFile(join(chatModel, "tokenizer_config.json"), "utf8"));
  await writeFile(join(chatModel, "tokenizer_config.json"), JSON.stringify({ ...config, chat_template: TEMPLATE }));
  const stories = (await heldoutSlice(40)).split("\u0000").map((s) => s.trim()).filter(Boolean);
  assert.ok(stories.length >= 30);

  // a Hub dataset repo: train and validation shards in data/, a README the split rule must skip
  const repo = join(work, "tinystories-repo");
  await mkdir(join(repo, "data"), { recursive: true });
  const shard = (docs: string[]) => parquetWriteBuffer({ columnData: [{ name: "text", data: docs, type: "STRING" }], rowGroupSize: 8 });
  await writeFile(join(repo, "data/train-00000-of-00001.parquet"), new Uint8Array(shard(stories.slice(0, 25))));
  await writeFile(join(repo, "data/validation-00000-of-00001.parquet"), new Uint8Array(shard(stories.slice(25))));
  await writeFile(join(repo, "README.md"), "# train validation\n");
  const hub = await startHfHubServer({}, { "someone/tinystories-mini": { dir: repo, token: "hf_ds_token" } });
  t.after(() => hub.close());

  const e = await workerEnv(t, { ALLOW_PRIVATE_SOURCES: "true", HF_ENDPOINT: hub.endpoint });
  const chatCkpt = await putCheckpoint(e, chatModel);
  const plainCkpt = await putCheckpoint(e, await stories260K());
  const conversations = stories.slice(0, 30).map((s) => JSON.stringify({ messages: [{ role: "user", content: "Tell me a story." }, { role: "assistant", content: s }] }));
  const chatFile = await putDataFile(e, conversations.join("\n") + "\n", "calibration", "chat.jsonl");
  const badFile = await putDataFile(e, `${conversations[0]}\n\n{"messages": "hello"}\n`, "calibration", "bad.jsonl");

  const chatJob = await submit(e, jobSpec({
    source: { checkpoint_id: chatCkpt }, method: "wanda",
    calibration: { dataset: `file:${chatFile}`, samples: 4, seq_len: 32 },
    eval: { datasets: [{ dataset: `file:${chatFile}`, format: "jsonl" }], seq_len: 32 },
  }));
  const hubDataset = { hf_dataset: { repo: "someone/tinystories-mini", token: "hf_ds_token" } };
  const hfJob = await submit(e, jobSpec({
    source: { checkpoint_id: plainCkpt }, method: "magnitude",
    calibration: { dataset: hubDataset, format: "parquet", samples: 4, seq_len: 32 },
    eval: { datasets: [{ hf_dataset: { ...hubDataset.hf_dataset, split: "validation" } }], seq_len: 32 },
  }));
  const badJob = await submit(e, jobSpec({ source: { checkpoint_id: chatCkpt }, method: "magnitude", calibration: { dataset: `file:${badFile}`, format: "jsonl", samples: 2, seq_len: 16 }, eval: { datasets: [] } }));
  const worker = startWorker(t, e.env);

  const logs = async (id: string) => (await e.prisma.jobEvent.findMany({ where: { jobId: id, type: "job.log" } })).map((ev) => ev.message);
  const evals = (job: { metrics: unknown }) => (job.metrics as { eval?: { dataset: string; windows: number; densePerplexity: number }[] }).eval?.[0];

  await t.test("a JSONL chat dataset uploaded as a file (format auto by its .jsonl name)", async () => {
    const job = await waitForStatus(e, chatJob, ["succeeded"], 180_000, worker);
    assert.ok((await logs(chatJob)).includes("calibration dataset file:" + chatFile + ": 30 jsonl documents"), JSON.stringify(await logs(chatJob)));
    const ev = evals(job);
    assert.equal(ev?.dataset, `file:${chatFile}`);
    assert.ok(ev && ev.windows > 0 && Number.isFinite(ev.densePerplexity), JSON.stringify(job.metrics));
  });

  await t.test("a Hub dataset: the split's Parquet shard for calibration, the validation shard for evaluation, with the token", async () => {
    const job = await waitForStatus(e, hfJob, ["succeeded"], 180_000, worker);
    assert.ok((await logs(hfJob)).some((m) => m === "calibration dataset hf_dataset:someone/tinystories-mini@main (split train): 25 parquet documents"), JSON.stringify(await logs(hfJob)));
    assert.equal(evals(job)?.dataset, "hf_dataset:someone/tinystories-mini@main (split validation)");
    const paths = hub.requests.map((r) => r.path);
    assert.ok(paths.includes("/api/datasets/someone/tinystories-mini/revision/main"));
    assert.ok(paths.includes("/datasets/someone/tinystories-mini/resolve/main/data/train-00000-of-00001.parquet"));
    assert.ok(paths.includes("/datasets/someone/tinystories-mini/resolve/main/data/validation-00000-of-00001.parquet"));
    assert.ok(!paths.some((p) => p.endsWith("README.md")), "not a data file of the split");
    assert.ok(hub.requests.filter((r) => !r.path.startsWith("/cdn/")).every((r) => r.authorization === "Bearer hf_ds_token"), "the token on every Hub request");
    assert.ok(hub.requests.filter((r) => r.path.startsWith("/cdn/")).length >= 2);
    const events = await e.prisma.jobEvent.findMany({ where: { jobId: hfJob } });
    assert.ok(!JSON.stringify(events.map((ev) => [ev.message, ev.data])).includes("hf_ds_token"), "the token is in no event");
    const report = await e.prisma.artifact.findFirst({ where: { jobId: hfJob, kind: "report" } });
    assert.ok(report);
    const sidecar = Buffer.from(await readBlob(e.store, report.storageKey)).toString("utf8");
    assert.ok(sidecar.includes("someone/tinystories-mini") && !sidecar.includes("hf_ds_token"), "the exported sparsity.json names the dataset, not its token");
  });

  await t.test("a bad JSONL line fails the job with the line named", async () => {
    const job = await waitForStatus(e, badJob, ["failed"], 120_000, worker);
    const err = job.error as { code: string; message: string };
    assert.equal(err.code, "dataset_invalid", JSON.stringify(err));
    assert.match(err.message, /line 3: `messages` must be a non-empty array of \{role, content\}/);
  });
});
