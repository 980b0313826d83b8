// Contract tests of every /v1 route through the real app (Postgres, Redis, local storage): each success path,
// and a table of bad requests that must each get their documented 4xx problem and write nothing at all.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { parquetWriteBuffer } from "hyparquet-writer";
import { appendEvent, createJob } from "../../../../src/db/jobs.repository.js";
import { transition } from "../../../../src/db/transitions.js";
import { parseJobSpec } from "../../../../src/contract/job-spec/parse.js";
import type { JobSpec } from "../../../../src/contract/job-spec/schema.js";
import { QUEUE_NAMES } from "../../../../src/contract/queues.js";
import { hubJob, multipart, newTenant, prisma, safetensors, snapshot, TINY_CONFIG, TINY_WEIGHTS, tinyCheckpointUpload, v1App } from "../../../helpers/v1-api.js";

function spec(body: Record<string, unknown> = hubJob()): JobSpec {
  const r = parseJobSpec(body);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}

function assertProblem(res: LightMyRequestResponse, status: number, what: string) {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/, what);
  const body = res.json();
  assert.equal(body.status, status, what);
  assert.equal(typeof body.detail, "string", what);
  return body;
}

/** A job moved through the status machine directly (no worker exists in these tests). */
async function jobIn(tenantId: string, status: "queued" | "running" | "succeeded" | "failed") {
  const { job } = await createJob(prisma, tenantId, spec());
  if (status === "queued") return job.id;
  await transition(prisma, job.id, ["queued"], "running");
  if (status === "running") return job.id;
  await transition(prisma, job.id, ["running"], status, status === "failed" ? { error: { code: "internal", message: "boom" } } : {});
  return job.id;
}

const LIMITS = { MAX_UPLOAD_FILE_BYTES: "4096", MAX_UPLOAD_TOTAL_BYTES: "20000", MAX_CONCURRENT_JOBS_PER_TENANT: "3" };

test("/v1 routes: success paths and the bad-input table", async (t) => {
  const app = await v1App(t, { env: LIMITS });
  const a = await newTenant();
  const b = await newTenant();
  const c = await newTenant();
  const inject = (opts: Record<string, unknown>) => app.inject(opts as never) as unknown as Promise<LightMyRequestResponse>;

  // --- checkpoints
  const up = tinyCheckpointUpload();
  const created = await inject({ method: "POST", url: "/v1/checkpoints", headers: { ...a.auth, ...up.headers }, payload: up.payload });
  assert.equal(created.statusCode, 201, created.body);
  const ckpt = created.json();
  assert.equal(ckpt.status, "ready");
  assert.equal(ckpt.architecture, "LlamaForCausalLM");
  assert.deepEqual(ckpt.files.map((f: { name: string }) => f.name).sort(), ["config.json", "model.safetensors"]);
  assert.equal((await inject({ method: "GET", url: `/v1/checkpoints/${ckpt.id}`, headers: a.auth })).json().sha256, ckpt.sha256);
  assert.deepEqual((await inject({ method: "GET", url: "/v1/checkpoints?status=ready", headers: a.auth })).json().items.map((x: { id: string }) => x.id), [ckpt.id]);

  // the same folder as one .tar (under a top folder, as `tar cf m.tar model/` makes it)
  const tar = await import("node:child_process").then(({ execFileSync }) => {
    const dir = execFileSync("mktemp", ["-d"]).toString().trim();
    execFileSync("mkdir", [`${dir}/model`]);
    execFileSync("sh", ["-c", `cat > ${dir}/model/config.json`], { input: JSON.stringify(TINY_CONFIG) });
    execFileSync("sh", ["-c", `cat > ${dir}/model/model.safetensors`], { input: TINY_WEIGHTS });
    return execFileSync("tar", ["cf", "-", "-C", dir, "model"]);
  });
  const tarUp = multipart([{ name: "model.tar", body: tar }]);
  const fromTar = await inject({ method: "POST", url: "/v1/checkpoints", headers: { ...a.auth, ...tarUp.headers }, payload: tarUp.payload });
  assert.equal(fromTar.statusCode, 201, fromTar.body);
  assert.equal(fromTar.json().sha256, ckpt.sha256, "the tar holds the same files, so the same checkpoint hash");
  assert.equal((await inject({ method: "DELETE", url: `/v1/checkpoints/${fromTar.json().id}`, headers: a.auth })).statusCode, 204);
  for await (const blob of app.storage.list(`checkpoints/${fromTar.json().id}/`)) assert.fail(`left behind ${blob.key}`);

  // --- files
  const fileUp = multipart([{ field: "file", name: "calib.txt", body: "Once upon a time.\n", type: "text/plain" }], { purpose: "calibration" });
  const file = await inject({ method: "POST", url: "/v1/files", headers: { ...a.auth, ...fileUp.headers }, payload: fileUp.payload });
  assert.equal(file.statusCode, 201, file.body);
  assert.equal(file.json().ref, `file:${file.json().id}`);
  assert.equal((await inject({ method: "GET", url: "/v1/files", headers: a.auth })).json().items[0].id, file.json().id);
  // Parquet is binary: accepted by its PAR1 magic and footer, stored byte for byte
  const parquet = Buffer.from(parquetWriteBuffer({ columnData: [{ name: "text", data: ["Once upon a time.", "The end."], type: "STRING" }] }));
  const pqUp = multipart([{ field: "file", name: "train-00000-of-00001.parquet", body: parquet, type: "application/octet-stream" }]);
  const pq = await inject({ method: "POST", url: "/v1/files", headers: { ...a.auth, ...pqUp.headers }, payload: pqUp.payload });
  assert.equal(pq.statusCode, 201, pq.body);
  assert.equal(pq.json().bytes, parquet.length);

  // --- jobs: create with idempotency, replay, list, get with queue position
  const body = { source: { checkpoint_id: ckpt.id }, method: "wanda", calibration: { dataset: file.json().ref }, webhook: { url: "https://hooks.example.com/x" } };
  const first = await inject({ method: "POST", url: "/v1/jobs", headers: { ...a.auth, "idempotency-key": "k-1" }, payload: body });
  assert.equal(first.statusCode, 201, first.body);
  assert.match(first.json().webhookSecret, /^whsec_/);
  assert.match(String(first.headers["ratelimit-limit"]), /^\d+$/);
  const jobId = first.json().job.id;
  const replay = await inject({ method: "POST", url: "/v1/jobs", headers: { ...a.auth, "idempotency-key": "k-1" }, payload: { ...body } });
  assert.equal(replay.statusCode, 200);
  assert.equal(replay.json().job.id, jobId);
  assert.equal(replay.headers["idempotent-replayed"], "true");
  const second = await inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: hubJob() });
  assert.equal(second.statusCode, 201);
  const got = (await inject({ method: "GET", url: `/v1/jobs/${second.json().job.id}`, headers: a.auth })).json();
  assert.equal(got.queuePosition, 1, "one job waits ahead of the second");
  assert.equal((await inject({ method: "GET", url: `/v1/jobs/${jobId}`, headers: a.auth })).json().queuePosition, 0);
  assert.equal(got.spec.source.hf.repo, "stories/260k");
  const page1 = (await inject({ method: "GET", url: "/v1/jobs?limit=1&status=queued", headers: a.auth })).json();
  assert.equal(page1.items.length, 1);
  const page2 = (await inject({ method: "GET", url: `/v1/jobs?limit=1&status=queued&cursor=${page1.nextCursor}`, headers: a.auth })).json();
  assert.deepEqual([page1.items[0].id, page2.items[0].id].sort(), [jobId, second.json().job.id].sort());
  assert.equal(page2.nextCursor, null);

  // cancel: queued → cancelled at once, BullMQ job gone; running → cancel_requested
  const cancelled = await inject({ method: "POST", url: `/v1/jobs/${second.json().job.id}/cancel`, headers: a.auth });
  assert.equal(cancelled.statusCode, 200);
  assert.equal(cancelled.json().outcome, "cancelled");
  assert.equal(await app.queues.prune.getJob(second.json().job.id), undefined);
  assert.ok(await app.queues.prune.getJob(jobId), "the first job is still queued in BullMQ");
  const running = await jobIn(a.id, "running");
  const flagged = await inject({ method: "POST", url: `/v1/jobs/${running}/cancel`, headers: a.auth });
  assert.equal(flagged.statusCode, 202);
  assert.equal(flagged.json().outcome, "cancel_requested");
  assert.equal(flagged.json().job.cancelRequested, true);

  // a finished job with metrics, artifacts and a mask
  const done = await jobIn(a.id, "running");
  for (const [step, loss] of [[1, 3.5], [2, 3.1]]) await appendEvent(prisma, done, { type: "job.metrics", data: { step, loss, tau: 4 } });
  await transition(prisma, done, ["running"], "succeeded");
  const bytes = Buffer.from("0123456789abcdef");
  await app.storage.put(`jobs/${done}/report.json`, bytes);
  await app.storage.put(`jobs/${done}/mask.npz`, bytes);
  const art = await prisma.artifact.create({ data: { jobId: done, kind: "report", name: "report.json", storageKey: `jobs/${done}/report.json`, bytes: 16n, sha256: "x" } });
  await prisma.artifact.create({ data: { jobId: done, kind: "mask_npz", name: "mask.npz", storageKey: `jobs/${done}/mask.npz`, bytes: 16n, sha256: "x" } });
  const mask = await prisma.maskArtifact.create({ data: { tenantId: a.id, pattern: "2:4", method: "maskllm", baseCheckpointId: ckpt.id, jobId: done, npzKey: `jobs/${done}/mask.npz`, metrics: { ppl: 12.5 } } });
  const child = await prisma.maskArtifact.create({ data: { tenantId: a.id, pattern: "2:4", method: "maskllm", parentMaskId: mask.id, npzKey: `jobs/${done}/mask.npz` } });

  const view = (await inject({ method: "GET", url: `/v1/jobs/${done}`, headers: a.auth })).json();
  assert.equal(view.status, "succeeded");
  assert.equal(view.progressPercent, 100);
  assert.equal(view.results.length, 2);
  const metrics = (await inject({ method: "GET", url: `/v1/jobs/${done}/metrics`, headers: a.auth })).json();
  assert.deepEqual(metrics.points.map((p: { step: number; values: { loss: number } }) => [p.step, p.values.loss]), [[1, 3.5], [2, 3.1]]);
  assert.deepEqual(metrics.series, ["loss", "tau"]);
  const events = (await inject({ method: "GET", url: `/v1/jobs/${done}/events?limit=2`, headers: a.auth })).json();
  assert.deepEqual(events.items.map((e: { seq: number }) => e.seq), [1, 2]);
  const rest = (await inject({ method: "GET", url: `/v1/jobs/${done}/events?cursor=${events.nextCursor}`, headers: a.auth })).json();
  assert.equal(rest.items[0].seq, 3);
  assert.equal(rest.items.at(-1).type, "job.succeeded");
  assert.equal(rest.nextCursor, null);
  assert.equal((await inject({ method: "GET", url: `/v1/jobs/${done}/artifacts`, headers: a.auth })).json().items.length, 2);
  const dl = await inject({ method: "GET", url: `/v1/artifacts/${art.id}/download`, headers: a.auth });
  assert.equal(dl.statusCode, 200);
  assert.equal(dl.body, "0123456789abcdef");
  assert.match(String(dl.headers["content-disposition"]), /report\.json/);
  const part = await inject({ method: "GET", url: `/v1/artifacts/${art.id}/download`, headers: { ...a.auth, range: "bytes=4-7" } });
  assert.equal(part.statusCode, 206);
  assert.equal(part.body, "4567");
  assert.equal(part.headers["content-range"], "bytes 4-7/16");
  const tail = await inject({ method: "GET", url: `/v1/artifacts/${art.id}/download`, headers: { ...a.auth, range: "bytes=-3" } });
  assert.equal(tail.body, "def");

  // masks
  const masks = (await inject({ method: "GET", url: "/v1/masks?pattern=2:4", headers: a.auth })).json();
  assert.deepEqual(masks.items.map((m: { id: string }) => m.id).sort(), [mask.id, child.id].sort());
  const mv = (await inject({ method: "GET", url: `/v1/masks/${child.id}`, headers: a.auth })).json();
  assert.deepEqual(mv.lineage, { jobId: null, parentMaskId: mask.id });
  assert.deepEqual((await inject({ method: "GET", url: `/v1/masks/${mask.id}`, headers: a.auth })).json().lineage, { jobId: done, parentMaskId: null });
  assert.equal((await inject({ method: "GET", url: `/v1/masks/${mask.id}/download?format=npz`, headers: a.auth })).body, "0123456789abcdef");
  assertProblem(await inject({ method: "GET", url: `/v1/masks/${mask.id}/download?format=logits`, headers: a.auth }), 404, "no logits stored");

  // concurrency: tenant c may have 3 queued/running jobs
  for (let i = 0; i < 3; i++) await jobIn(c.id, "queued");
  const failedJob = await jobIn(a.id, "failed");

  // --- the bad-input table: each answer is its documented problem, and nothing is written
  const other = await jobIn(b.id, "queued");
  const otherArt = await prisma.artifact.create({ data: { jobId: other, kind: "report", name: "r.json", storageKey: `jobs/${other}/r.json`, bytes: 1n, sha256: "x" } });
  const job = (extra: Record<string, unknown>) => ({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: { ...hubJob(), ...extra } });
  const upload = (files: Parameters<typeof multipart>[0], auth = a.auth) => {
    const m = multipart(files);
    return { method: "POST", url: "/v1/checkpoints", headers: { ...auth, ...m.headers }, payload: m.payload };
  };
  const cfg = { name: "config.json", body: JSON.stringify(TINY_CONFIG) };
  const fullUp = multipart([cfg, { name: "model.safetensors", body: TINY_WEIGHTS }]);
  const cases: [string, Record<string, unknown>, number][] = [
    ["no Authorization header", { method: "GET", url: "/v1/jobs" }, 401],
    ["unknown key", { method: "GET", url: "/v1/jobs", headers: { authorization: `Bearer mf_${"A".repeat(43)}` } }, 401],
    ["not a Bearer key", { method: "GET", url: "/v1/jobs", headers: { authorization: "Basic dXNlcjpwYXNz" } }, 401],
    ["no key on a write", { method: "POST", url: "/v1/jobs", payload: hubJob() }, 401],
    ["unknown field", job({ trainig: { steps: 5 } }), 400],
    ["N >= M", job({ pattern: "4:4" }), 400],
    ["M > 16", job({ pattern: "2:32" }), 400],
    ["non-https webhook", job({ webhook: { url: "http://hooks.example.com/x" } }), 400],
    ["malformed source URL", job({ source: { url: "https://" } }), 400],
    ["non-https source URL", job({ source: { url: "http://example.com/m.tar" } }), 400],
    ["missing source", { method: "POST", url: "/v1/jobs", headers: a.auth, payload: { method: "wanda" } }, 400],
    ["body is an array", { method: "POST", url: "/v1/jobs", headers: a.auth, payload: [hubJob()] }, 400],
    ["malformed JSON", { method: "POST", url: "/v1/jobs", headers: { ...a.auth, "content-type": "application/json" }, payload: '{"source":' }, 400],
    ["wrong content type", { method: "POST", url: "/v1/jobs", headers: { ...a.auth, "content-type": "text/csv" }, payload: "a,b" }, 415],
    ["another tenant's checkpoint", { method: "POST", url: "/v1/jobs", headers: b.auth, payload: { source: { checkpoint_id: ckpt.id } } }, 422],
    ["unknown prior mask", job({ method: "maskllm", prior: { mask_id: randomUUID() } }), 422],
    ["unknown calibration file", job({ calibration: { dataset: `file:${randomUUID()}` } }), 422],
    ["idempotency conflict", { method: "POST", url: "/v1/jobs", headers: { ...a.auth, "idempotency-key": "k-1" }, payload: hubJob() }, 409],
    ["bad idempotency key", { method: "POST", url: "/v1/jobs", headers: { ...a.auth, "idempotency-key": "has space" }, payload: hubJob() }, 400],
    ["too many active jobs", { method: "POST", url: "/v1/jobs", headers: c.auth, payload: hubJob() }, 429],
    ["cancel a finished job", { method: "POST", url: `/v1/jobs/${done}/cancel`, headers: a.auth }, 409],
    ["cancel a failed job", { method: "POST", url: `/v1/jobs/${failedJob}/cancel`, headers: a.auth }, 409],
    ["delete a running job", { method: "DELETE", url: `/v1/jobs/${running}`, headers: a.auth }, 409],
    ["delete a checkpoint in use", { method: "DELETE", url: `/v1/checkpoints/${ckpt.id}`, headers: a.auth }, 409],
    ["another tenant's job", { method: "GET", url: `/v1/jobs/${other}`, headers: a.auth }, 404],
    ["cancel another tenant's job", { method: "POST", url: `/v1/jobs/${other}/cancel`, headers: a.auth }, 404],
    ["delete another tenant's job", { method: "DELETE", url: `/v1/jobs/${done}`, headers: b.auth }, 404],
    ["another tenant's artifact", { method: "GET", url: `/v1/artifacts/${otherArt.id}/download`, headers: a.auth }, 404],
    ["another tenant's mask", { method: "GET", url: `/v1/masks/${mask.id}`, headers: b.auth }, 404],
    ["another tenant's checkpoint", { method: "GET", url: `/v1/checkpoints/${ckpt.id}`, headers: b.auth }, 404],
    ["id not a uuid", { method: "GET", url: "/v1/jobs/123", headers: a.auth }, 400],
    ["bad cursor", { method: "GET", url: "/v1/jobs?cursor=bm90LWEtY3Vyc29y", headers: a.auth }, 400],
    ["bad events cursor", { method: "GET", url: `/v1/jobs/${done}/events?cursor=zzz`, headers: a.auth }, 400],
    ["bad status filter", { method: "GET", url: "/v1/jobs?status=sleeping", headers: a.auth }, 400],
    ["limit 0", { method: "GET", url: "/v1/masks?limit=0", headers: a.auth }, 400],
    ["bad mask format", { method: "GET", url: `/v1/masks/${mask.id}/download?format=zip`, headers: a.auth }, 400],
    ["range past the end", { method: "GET", url: `/v1/artifacts/${art.id}/download`, headers: { ...a.auth, range: "bytes=99-" } }, 416],
    ["upload not multipart", { method: "POST", url: "/v1/checkpoints", headers: a.auth, payload: { files: [] } }, 415],
    ["upload without config.json", upload([{ name: "model.safetensors", body: TINY_WEIGHTS }]), 422],
    ["upload of a file that is not safetensors", upload([cfg, { name: "model.safetensors", body: Buffer.from("PK\u0003\u0004 this is a zip, not safetensors") }]), 422],
    ["upload of a truncated safetensors", upload([cfg, { name: "model.safetensors", body: TINY_WEIGHTS.subarray(0, TINY_WEIGHTS.length - 5) }]), 422],
    ["upload of an unsupported architecture", upload([{ name: "config.json", body: JSON.stringify({ ...TINY_CONFIG, architectures: ["GPT2LMHeadModel"] }) }, { name: "model.safetensors", body: TINY_WEIGHTS }]), 422],
    ["upload of an oversized file", upload([cfg, { name: "model.safetensors", body: safetensors({ w: [1100] }) }]), 413],
    ["upload over the total limit", upload([cfg, ...["a", "b", "c", "d", "e"].map((n) => ({ name: `${n}.safetensors`, body: safetensors({ w: [1000] }) }))]), 413],
    ["upload with a bad file name", upload([cfg, { name: "model weights.safetensors", body: TINY_WEIGHTS }]), 400],
    ["upload cut off mid-body", { method: "POST", url: "/v1/checkpoints", headers: { ...a.auth, ...fullUp.headers }, payload: fullUp.payload.subarray(0, fullUp.payload.length - 300) }, 400],
    ["upload with an empty form", upload([]), 400],
    ["upload with the key missing", upload([cfg], {} as typeof a.auth), 401],
    ["text file that is not UTF-8", (() => { const m = multipart([{ field: "file", name: "x.txt", body: Buffer.from([0x66, 0xff, 0xfe, 0x00]) }]); return { method: "POST", url: "/v1/files", headers: { ...a.auth, ...m.headers }, payload: m.payload }; })(), 422],
    ["text file too large", (() => { const m = multipart([{ field: "file", name: "x.txt", body: "x".repeat(5000) }]); return { method: "POST", url: "/v1/files", headers: { ...a.auth, ...m.headers }, payload: m.payload }; })(), 413],
    ["Parquet file without its footer", (() => { const m = multipart([{ field: "file", name: "x.parquet", body: Buffer.concat([Buffer.from("PAR1"), Buffer.alloc(64)]) }]); return { method: "POST", url: "/v1/files", headers: { ...a.auth, ...m.headers }, payload: m.payload }; })(), 422],
    ["empty file", (() => { const m = multipart([{ field: "file", name: "x.jsonl", body: "" }]); return { method: "POST", url: "/v1/files", headers: { ...a.auth, ...m.headers }, payload: m.payload }; })(), 422],
    ["file with an unknown purpose", (() => { const m = multipart([{ field: "file", name: "x.txt", body: "hi" }], { purpose: "training" }); return { method: "POST", url: "/v1/files", headers: { ...a.auth, ...m.headers }, payload: m.payload }; })(), 400],
  ];
  assert.ok(cases.length >= 25);
  const tenants = [a.id, b.id, c.id];
  const before = await snapshot(app, tenants);
  for (const [what, req, status] of cases) {
    assertProblem(await inject(req), status, what);
    assert.deepEqual(await snapshot(app, tenants), before, `${what} wrote something`);
  }

  // --- deletes: a finished job with its artifact blobs (the mask's file stays for the catalogue)
  assert.equal((await inject({ method: "DELETE", url: `/v1/jobs/${done}`, headers: a.auth })).statusCode, 204);
  assert.equal(await app.storage.head(`jobs/${done}/report.json`), null);
  assert.ok(await app.storage.head(`jobs/${done}/mask.npz`), "a catalogued mask keeps its file");
  assert.equal((await inject({ method: "GET", url: `/v1/masks/${mask.id}`, headers: a.auth })).json().lineage.jobId, null);
  assertProblem(await inject({ method: "GET", url: `/v1/jobs/${done}`, headers: a.auth }), 404, "deleted job");
  assert.equal(await prisma.jobEvent.count({ where: { jobId: done } }), 0);

  // --- datasets with a format: the Parquet upload as calibration text and as an eval dataset (object form)
  // a job may name it with its format, as an eval dataset in the object form; a missing file is named where it sits
  const pqJob = await inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: { source: { checkpoint_id: ckpt.id }, method: "magnitude", calibration: { dataset: pq.json().ref, format: "parquet" }, eval: { datasets: [{ dataset: pq.json().ref, format: "parquet" }] } } });
  assert.equal(pqJob.statusCode, 201, pqJob.body);
  const missing = await inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: { source: { checkpoint_id: ckpt.id }, method: "magnitude", eval: { datasets: ["builtin:wikitext", { dataset: `file:${randomUUID()}`, format: "jsonl" }] } } });
  assert.equal(missing.statusCode, 422, missing.body);
  assert.match(missing.body, /"pointer":"\/eval\/datasets\/1".*no such file/);
  assert.equal(QUEUE_NAMES.prune, "prune");
});

// memory is the default; redis is what several API replicas share
for (const store of ["memory", "redis"] as const) {
  test(`the per-key rate limit (${store} store) answers 429 problems with RateLimit headers, per key`, async (t) => {
    const app = await v1App(t, { env: { RATE_LIMIT_PER_MINUTE: "3", RATE_LIMIT_STORE: store } });
    const a = await newTenant();
    const b = await newTenant();
    for (let i = 0; i < 3; i++) {
      const ok = await app.inject({ method: "GET", url: "/v1/jobs", headers: a.auth });
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.headers["ratelimit-remaining"], String(2 - i));
    }
    const limited = await app.inject({ method: "GET", url: "/v1/jobs", headers: a.auth });
    const body = assertProblem(limited as unknown as LightMyRequestResponse, 429, "over the limit");
    assert.equal(body.type, "urn:maskforge:problem:rate-limited");
    assert.ok(Number(limited.headers["retry-after"]) > 0);
    const counters = await app.redis.keys(`${app.config.queuePrefix}:ratelimit:*`);
    assert.equal(counters.length > 0, store === "redis", `counters in Redis: ${counters.length}`);
    assert.equal((await app.inject({ method: "GET", url: "/v1/jobs", headers: b.auth })).statusCode, 200, "another key has its own bucket");
  });
}
