// An upload whose client stops sending mid-file holds no socket and keeps nothing: the idle timeout answers a
// 408 problem, and the files already stored and the `uploading` row go with the request.
import assert from "node:assert/strict";
import { test } from "node:test";
import { newTenant, snapshot, TINY_CONFIG, v1App } from "../helpers/v1-api.js";
import { rawRequest } from "../helpers/hostile-http.js";

test("an upload stalled mid-file gets a 408 problem and leaves nothing", { timeout: 60_000 }, async (t) => {
  const app = await v1App(t, { env: { HTTP_IDLE_TIMEOUT_MS: "2000", HTTP_HEADERS_TIMEOUT_MS: "1000", HTTP_REQUEST_TIMEOUT_MS: "30000" } });
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const tenant = await newTenant();
  const before = await snapshot(app, [tenant.id]);
  const b = "stalled";
  // config.json whole, then 5000 bytes of a file declared (by Content-Length) to go on for 100 kB more
  const sent = `--${b}\r\ncontent-disposition: form-data; name="file"; filename="config.json"\r\ncontent-type: application/json\r\n\r\n${JSON.stringify(TINY_CONFIG)}\r\n--${b}\r\ncontent-disposition: form-data; name="file"; filename="tokenizer.model"\r\n\r\n${"x".repeat(5000)}`;
  const head = `POST /v1/checkpoints HTTP/1.1\r\nhost: x\r\nauthorization: ${tenant.auth.authorization}\r\ncontent-type: multipart/form-data; boundary=${b}\r\ncontent-length: ${sent.length + 100_000}\r\n\r\n`;
  const res = await rawRequest(base, [head + sent], { deadlineMs: 8000 });
  const where = `answered ${res.status || "nothing"} after ${res.ms} ms: ${res.type} ${res.body.slice(0, 200)}`;
  assert.equal(res.status, 408, where);
  assert.match(res.type, /^application\/problem\+json/, where);
  assert.ok(res.ms < 4000, where);
  // the route cleans up once the request is gone, just after the answer left
  const deadline = Date.now() + 3000;
  let now = await snapshot(app, [tenant.id]);
  while (JSON.stringify(now) !== JSON.stringify(before) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = await snapshot(app, [tenant.id]);
  }
  assert.deepEqual(now, before, "nothing kept");
});
