import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTestApp } from "../../helpers/app.js";
import { startS3rver } from "../../helpers/s3rver.js";

test("GET /healthz answers 200 ok", async (t) => {
  const app = await buildTestApp(t);
  const res = await app.inject({ method: "GET", url: "/healthz" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: "ok" });
});

// a generous deadline where every check should pass: first connections are slow on a loaded CI machine
const PATIENT = { readinessTimeoutMs: 5000 };

test("GET /readyz is 200 with every check ok when Postgres, Redis and storage are up", async (t) => {
  const app = await buildTestApp(t, PATIENT);
  const res = await app.inject({ method: "GET", url: "/readyz" });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { status: "ready", checks: { postgres: "ok", redis: "ok", storage: "ok" } });
  assert.equal(res.headers["cache-control"], "no-store");
});

test("GET /readyz is a quick 503 problem naming redis when Redis is unreachable", async (t) => {
  const started = Date.now();
  const app = await buildTestApp(t, { env: { REDIS_URL: "redis://127.0.0.1:1" } });
  const res = await app.inject({ method: "GET", url: "/readyz" });
  const elapsed = Date.now() - started;
  assert.equal(res.statusCode, 503);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body.status, 503);
  assert.equal(body.detail, "not ready: redis");
  assert.deepEqual(body.checks, { postgres: "ok", redis: "failed", storage: "ok" });
  assert.ok(elapsed < 5000, `building the app and answering took ${elapsed} ms`);
  // the problem names the dependency, never the driver's error text
  assert.doesNotMatch(res.body, /ECONNREFUSED|127\.0\.0\.1:1|writeable/);
});

test("GET /readyz names postgres when the database is unreachable", async (t) => {
  const app = await buildTestApp(t, { env: { DATABASE_URL: "postgresql://postgres@127.0.0.1:1/maskforge_test" } });
  const res = await app.inject({ method: "GET", url: "/readyz" });
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().detail, "not ready: postgres");
});

test("a readiness check that hangs is reported as a timeout within the deadline", async (t) => {
  const app = await buildTestApp(t, { readinessTimeoutMs: 1000 });
  // warm up first, so the other checks answer well inside the deadline even on a loaded machine
  await app.inject({ method: "GET", url: "/readyz" });
  app.storage.ping = () => new Promise(() => {});
  const started = Date.now();
  const res = await app.inject({ method: "GET", url: "/readyz" });
  const elapsed = Date.now() - started;
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().checks.storage, "timeout");
  assert.equal(res.json().detail, "not ready: storage");
  assert.ok(elapsed >= 1000 && elapsed < 4000, `answered after ${elapsed} ms`);
});

test("GET /readyz checks the S3 store when storage is S3, and names it when the bucket is gone", async (t) => {
  const s3 = await startS3rver();
  t.after(() => s3.close());
  const app = await buildTestApp(t, { ...PATIENT, env: s3.env });
  assert.equal(app.storage.kind, "s3");
  const up = await app.inject({ method: "GET", url: "/readyz" });
  assert.equal(up.statusCode, 200, up.body);

  const missing = await buildTestApp(t, { env: { ...s3.env, S3_BUCKET: "no-such-bucket" } });
  const down = await missing.inject({ method: "GET", url: "/readyz" });
  assert.equal(down.statusCode, 503);
  assert.equal(down.json().detail, "not ready: storage");
});
