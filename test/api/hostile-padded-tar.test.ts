// A checkpoint .tar as Python's tarfile writes it (padded with zeros to 10240-byte records) uploads every time:
// the reader consumes the padding, so the multipart loop reaches the end of the request. Five in a row, each
// bounded, each ready with its files, over one keep-alive connection; and over a slow link, where the padding
// arrives after the reader has seen the end of the archive.
import assert from "node:assert/strict";
import { test } from "node:test";
import { newTenant, prisma, TINY_CONFIG, TINY_WEIGHTS, v1App } from "../helpers/v1-api.js";
import { multipartOf, rawRequest, send, tarOf } from "../helpers/hostile-http.js";

test("record-padded tar uploads answer 201, five times out of five", { timeout: 60_000 }, async (t) => {
  const app = await v1App(t);
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const tenant = await newTenant();
  const tar = tarOf([{ name: "stories/config.json", body: JSON.stringify(TINY_CONFIG) }, { name: "stories/model.safetensors", body: TINY_WEIGHTS }], { record: 10240 });
  assert.equal(tar.length % 10240, 0);
  assert.ok(tar.length - 1024 > TINY_WEIGHTS.length + 1536, "padding beyond the two end blocks is present");
  for (let i = 0; i < 5; i++) {
    const m = multipartOf([{ name: "stories.tar", body: tar }]);
    const res = await send(base, "POST", "/v1/checkpoints", { headers: { ...tenant.auth, "content-type": m.type }, body: m.body, deadlineMs: 10_000 });
    assert.equal(res.status, 201, res.body);
    const row = await prisma.checkpoint.findUniqueOrThrow({ where: { id: JSON.parse(res.body).id } });
    assert.equal(row.status, "ready");
    assert.deepEqual((row.files as { name: string }[]).map((f) => f.name).sort(), ["config.json", "model.safetensors"]);
  }
  assert.equal(await prisma.checkpoint.count({ where: { tenantId: tenant.id, status: "uploading" } }), 0, "no upload left half-way");
});

// Python's tarfile (PAX format) puts a pax header with the fractional mtime before each file; the archive ends
// with two zero blocks and zeros up to the 10240-byte record.
const paxMtime = (): { name: string; type: string; body: string } => {
  const rec = ` mtime=${(Date.now() / 1000).toFixed(7)}\n`;
  let len = rec.length + 1;
  while (String(len).length + rec.length !== len) len++;
  return { name: "././@PaxHeader", type: "x", body: `${len}${rec}` };
};

// How the old reader hung: it stopped at the first zero block, so the record padding was never read, and a
// multipart part that is not read to its end never ends: the request waits forever for its next part, and the
// row stays `uploading` with its files stored. Whether it hung depended on when the padding arrived; here a
// slow link delivers the archive and its padding 300 ms apart, so every upload is the one that hung.
test("record-padded tar uploads whose padding arrives late still answer 201 and leave nothing uploading", { timeout: 60_000 }, async (t) => {
  const app = await v1App(t);
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const entries = [
    { name: "stories/config.json", body: JSON.stringify(TINY_CONFIG) },
    { name: "stories/model.safetensors", body: TINY_WEIGHTS },
  ].flatMap((f) => [paxMtime(), f]);
  const tar = tarOf(entries, { record: 10240 });
  // where the end-of-archive blocks start: what the same entries take without the record padding
  const end = tarOf(entries).length - 1024;
  assert.ok(tar.subarray(end).every((b) => b === 0) && tar.length - end > 1024 + 512, "zero padding follows the two end blocks");
  // where the first piece of the body stops
  const splits: [string, number, string][] = [
    ["the end marker, then the record padding", end + 1024, ""],
    ["the first end block, then the second and the padding", end + 512, ""],
    ["the end marker, then the padding and a form field after the tar", end + 1024, "note"],
  ];
  for (const [what, at, field] of splits)
    await t.test(what, async () => {
      const tenant = await newTenant();
      const boundary = `----padded${Math.random().toString(36).slice(2)}`;
      const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="stories.tar"\r\ncontent-type: application/x-tar\r\n\r\n`);
      const tail = Buffer.from(`\r\n${field ? `--${boundary}\r\ncontent-disposition: form-data; name="${field}"\r\n\r\nsent after the tar\r\n` : ""}--${boundary}--\r\n`);
      const first = Buffer.concat([head, tar.subarray(0, at)]);
      const rest = Buffer.concat([tar.subarray(at), tail]);
      const request = `POST /v1/checkpoints HTTP/1.1\r\nhost: x\r\nauthorization: ${tenant.auth.authorization}\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${first.length + rest.length}\r\nconnection: close\r\n\r\n`;
      const res = await rawRequest(base, [Buffer.concat([Buffer.from(request), first]), rest], { pauseMs: 300, deadlineMs: 8000 });
      const uploading = await prisma.checkpoint.findMany({ where: { tenantId: tenant.id, status: "uploading" }, select: { id: true } });
      const stored: string[] = [];
      for (const c of uploading) for await (const b of app.storage.list(`checkpoints/${c.id}/`)) stored.push(b.key);
      const where = `${what}: answered ${res.status || "nothing"} after ${res.ms} ms ${res.body.slice(0, 200)}; rows left uploading: ${uploading.length}, their stored files: ${stored.length}`;
      assert.equal(res.status, 201, where);
      assert.deepEqual(uploading, [], where);
      const row = await prisma.checkpoint.findUniqueOrThrow({ where: { id: JSON.parse(res.body).id } });
      assert.equal(row.status, "ready", where);
      assert.deepEqual((row.files as { name: string }[]).map((f) => f.name).sort(), ["config.json", "model.safetensors"], where);
    });
});
