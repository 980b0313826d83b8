// Caps on an uploaded tar hold before its files are written: entries (the worker's MAX_ARCHIVE_ENTRIES), bytes
// per file and bytes in all, each checked against what the headers declare. Every blob write the upload makes is
// counted: 2000 one-byte entries once wrote about 4000 blobs over 15 s before a 422.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { App } from "../../src/api/app.js";
import { MAX_ARCHIVE_ENTRIES } from "../../src/checkpoint/tar-entries.js";
import { newTenant, snapshot, TINY_CONFIG, v1App, type TestTenant } from "../helpers/v1-api.js";
import { multipartOf, send, tarOf, type TarFile } from "../helpers/hostile-http.js";

const MiB = 1024 * 1024;

/** Uploads `files` as one .tar; the answer, its time and the keys written to storage meanwhile. */
async function uploadTar(app: App, base: string, tenant: TestTenant, files: TarFile[], writes: string[]) {
  writes.length = 0;
  const before = await snapshot(app, [tenant.id]);
  const m = multipartOf([{ name: "m.tar", body: tarOf(files) }]);
  const res = await send(base, "POST", "/v1/checkpoints", { headers: { ...tenant.auth, "content-type": m.type }, body: m.body, deadlineMs: 60_000 });
  const where = `answered ${res.status} after ${res.ms} ms having written ${writes.length} blobs: ${res.body.slice(0, 200)}`;
  return { res, where, before };
}

test("tar uploads are refused at their caps before the files past them are written", { timeout: 180_000 }, async (t) => {
  const app = await v1App(t, { env: { MAX_UPLOAD_FILE_BYTES: String(4 * MiB), MAX_UPLOAD_TOTAL_BYTES: String(6 * MiB), RATE_LIMIT_PER_MINUTE: "100000" } });
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const tenant = await newTenant();
  const writes: string[] = [];
  const put = app.storage.put.bind(app.storage);
  app.storage.put = (key, body, opts) => {
    writes.push(key);
    return put(key, body, opts);
  };
  const config: TarFile = { name: "config.json", body: JSON.stringify(TINY_CONFIG) };

  await t.test("2000 one-byte entries: 400 at the entry cap, in bounded time and writes", async () => {
    const { res, where, before } = await uploadTar(app, base, tenant, Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}.bin`, body: "x" })), writes);
    assert.equal(res.status, 400, where);
    assert.match(res.body, new RegExp(`more than ${MAX_ARCHIVE_ENTRIES} entries`), where);
    assert.ok(writes.length <= MAX_ARCHIVE_ENTRIES, where);
    assert.ok(res.ms < 10_000, where);
    assert.deepEqual(await snapshot(app, [tenant.id]), before, `nothing kept: ${where}`);
  });

  await t.test("an entry declaring more than the per-file cap: 413 before it is written", async () => {
    const { res, where, before } = await uploadTar(app, base, tenant, [config, { name: "model.safetensors", body: "x".repeat(512), declaredSize: 1024 ** 3 }], writes);
    assert.equal(res.status, 413, where);
    assert.deepEqual(writes.filter((k) => k.endsWith("/model.safetensors")), [], where);
    assert.deepEqual(await snapshot(app, [tenant.id]), before, `nothing kept: ${where}`);
  });

  await t.test("an entry within the per-file cap that passes the total: 413 before it is written", async () => {
    const { res, where, before } = await uploadTar(app, base, tenant, [config, { name: "a.bin", body: Buffer.alloc(3 * MiB, 1) }, { name: "b.bin", body: Buffer.alloc(4 * MiB, 2) }], writes);
    assert.equal(res.status, 413, where);
    assert.deepEqual(writes.filter((k) => k.endsWith("/b.bin")), [], where);
    assert.deepEqual(await snapshot(app, [tenant.id]), before, `nothing kept: ${where}`);
  });
});
