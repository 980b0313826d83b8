// Hostile jobs through a real worker process (Postgres, Redis, s3rver storage): a source naming another tenant's
// checkpoint in the service's own bucket, and a gzip bomb, fail with a reason a user can act on, before the
// source is fetched; an upload left `uploading` by a vanished API process is removed (row and files) by the
// worker's sweep, a live one is kept. One worker serves the three, each a subtest that fails on its own.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { tarOf } from "../helpers/hostile-http.js";
import { jobSpec, putCheckpoint, selfSignedCert, startWorker, stories260K, submit, waitFor, workerEnv } from "../helpers/worker.js";

test("hostile jobs fail with a reason; abandoned uploads are swept", { timeout: 120_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), "mf-hostile-jobs-"));
  const tls = await selfSignedCert(work);
  // 64 MiB of zeros as weights: gzip shrinks that about 1000 times, real float weights barely at all
  const bomb = gzipSync(tarOf([{ name: "config.json", body: "{}" }, { name: "model.safetensors", body: Buffer.alloc(64 * 1024 * 1024) }]));
  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    if (req.url === "/bomb.tar.gz") return void res.writeHead(200, { "content-length": bomb.length }).end(bomb);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const e = await workerEnv(t, { ALLOW_PRIVATE_SOURCES: "true", UPLOAD_STALE_AFTER_MS: "60000" });
  // another tenant's checkpoint, in the storage bucket the worker's credentials can read
  const victim = await putCheckpoint(e, await stories260K());
  // two uploads in progress: one untouched for two minutes (its API process died), one alive
  const abandoned = randomUUID();
  const alive = randomUUID();
  for (const id of [abandoned, alive]) {
    await e.prisma.checkpoint.create({ data: { id, tenantId: e.tenantId, source: { type: "upload" }, status: "uploading" } });
    await e.store.put(`checkpoints/${id}/model.safetensors`, Buffer.alloc(1024));
  }
  await e.prisma.checkpoint.update({ where: { id: abandoned }, data: { updatedAt: new Date(Date.now() - 120_000) } });

  // the bomb first: one worker takes them in order, and the bomb is the quick one to settle either way
  const bombJob = await submit(e, jobSpec({ source: { url: `${base}/bomb.tar.gz` }, method: "magnitude" }));
  const s3Job = await submit(e, jobSpec({ source: { url: `s3://${e.s3.bucket}/checkpoints/${victim}/` }, method: "magnitude" }));
  const worker = startWorker(t, { ...e.env, NODE_EXTRA_CA_CERTS: tls.certPath });

  // failed, and never past its source: a job that fetched the source in full has read what it must not
  const failed = async (id: string) =>
    waitFor(`job ${id} to fail`, async () => {
      const j = await e.prisma.job.findUnique({ where: { id } });
      const fetched = await e.prisma.jobEvent.findFirst({ where: { jobId: id, type: "job.log", message: { startsWith: "fetched " } } });
      if (fetched) throw new Error(`job ${id} read its source: ${fetched.message} ${JSON.stringify(fetched.data)} (now ${j?.status}, stage ${j?.stage})`);
      if (j?.status === "succeeded") throw new Error(`job ${id} succeeded; worker log:\n${worker.output()}`);
      return j?.status === "failed" ? j : undefined;
    }, 60_000, 200);

  await t.test("a source in the service's own bucket (another tenant's checkpoint) fails before it is read", async () => {
    const s3 = await failed(s3Job);
    assert.match(JSON.stringify(s3.error), /own storage bucket.*checkpoint_id/, JSON.stringify(s3.error));
  });

  await t.test("a gzip bomb fails as one, before it is fully expanded", async () => {
    const gz = await failed(bombJob);
    assert.equal((gz.error as { code: string }).code, "source_too_large", JSON.stringify(gz.error));
    assert.match((gz.error as { message: string }).message, /expands more than 20 times .*decompression bomb/);
  });

  await t.test("an abandoned upload is removed with its files; a live one stays", async () => {
    await waitFor("the abandoned upload to go", async () => !(await e.prisma.checkpoint.findUnique({ where: { id: abandoned } })), 30_000, 200).catch(async (err) => {
      const row = await e.prisma.checkpoint.findUnique({ where: { id: abandoned } });
      throw new Error(`${(err as Error).message}: it is still ${row?.status}, last touched ${row?.updatedAt.toISOString()}`);
    });
    const left: string[] = [];
    for await (const b of e.store.list(`checkpoints/${abandoned}/`)) left.push(b.key);
    assert.deepEqual(left, [], "its files are gone too");
    assert.equal((await e.prisma.checkpoint.findUnique({ where: { id: alive } }))?.status, "uploading", "a live upload is kept");
    assert.ok(await e.store.head(`checkpoints/${alive}/model.safetensors`), "with its files");
  });
});
