// A checkpoint .tar as Python's tarfile writes it (padded with zeros to 10240-byte records) uploads every time:
// the reader consumes the padding, so the multipart loop reaches the end of the request. Five in a row, each
// bounded, each ready with its files, over one keep-alive connection.
import assert from "node:assert/strict";
import { test } from "node:test";
import { newTenant, prisma, TINY_CONFIG, TINY_WEIGHTS, v1App } from "../v1/helpers.js";
import { multipartOf, send, tarOf } from "./helpers.js";

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
