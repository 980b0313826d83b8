// Every error leaves as RFC 9457 application/problem+json, with the request id, and a 5xx never shows internals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Type } from "typebox";
import type { LightMyRequestResponse } from "fastify";
import { buildTestApp } from "../helpers/app.js";
import type { App } from "../../src/api/app.js";
import { problemResponses } from "../../src/contract/api/problem.js";

function assertProblem(res: LightMyRequestResponse, status: number) {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body.status, status);
  assert.equal(typeof body.type, "string");
  assert.equal(typeof body.title, "string");
  assert.equal(typeof body.detail, "string");
  assert.equal(body.request_id, res.headers["x-request-id"]);
  return body;
}

// routes that exist only in this test, to reach the error paths the foundation has no route for yet
function testRoutes(app: App) {
  app.post(
    "/test/items",
    {
      schema: {
        body: Type.Object({ name: Type.String({ minLength: 1 }), size: Type.Integer({ minimum: 1 }) }),
        // declared as a route of the jobs API will: the shared Problem component must keep every member
        response: { 200: Type.Object({ name: Type.String() }), ...problemResponses(400, 413, 415) },
      },
    },
    async (req) => ({ name: req.body.name }),
  );
  app.get("/test/boom", async () => {
    throw new Error("connect ECONNREFUSED 10.0.0.7:5432 password=hunter2");
  });
}

test("an unknown route is a 404 problem", async (t) => {
  const app = await buildTestApp(t);
  const body = assertProblem(await app.inject({ method: "GET", url: "/v1/nothing-here?token=abc" }), 404);
  assert.equal(body.title, "Not Found");
  assert.equal(body.instance, "/v1/nothing-here");
  assert.doesNotMatch(JSON.stringify(body), /token=abc/);
});

test("a body that fails validation is a 400 problem listing every bad field", async (t) => {
  const app = await buildTestApp(t, { setup: testRoutes });
  const res = await app.inject({ method: "POST", url: "/test/items", payload: { name: "", size: 0 } });
  const body = assertProblem(res, 400);
  assert.equal(body.type, "urn:maskforge:problem:validation");
  const pointers = body.errors.map((e: { location: string; pointer: string }) => `${e.location}${e.pointer}`).sort();
  assert.deepEqual(pointers, ["body/name", "body/size"]);
});

test("a missing required field is pointed at by name", async (t) => {
  const app = await buildTestApp(t, { setup: testRoutes });
  const body = assertProblem(await app.inject({ method: "POST", url: "/test/items", payload: { size: 2 } }), 400);
  assert.deepEqual(body.errors.map((e: { pointer: string }) => e.pointer), ["/name"]);
});

test("a body over the limit is a 413 problem and an unknown media type a 415 problem", async (t) => {
  const app = await buildTestApp(t, { setup: testRoutes });
  const big = JSON.stringify({ name: "x".repeat(1024 * 1024 + 1), size: 1 });
  assertProblem(await app.inject({ method: "POST", url: "/test/items", headers: { "content-type": "application/json" }, payload: big }), 413);
  assertProblem(await app.inject({ method: "POST", url: "/test/items", headers: { "content-type": "text/csv" }, payload: "a,b" }), 415);
});

test("malformed JSON and a malformed URL are 400 problems", async (t) => {
  const app = await buildTestApp(t, { setup: testRoutes });
  const json = await app.inject({ method: "POST", url: "/test/items", headers: { "content-type": "application/json" }, payload: "{\"name\":" });
  assertProblem(json, 400);
  const url = await app.inject({ method: "GET", url: "/test/%zz", headers: { "x-request-id": "bad-url-1" } });
  assert.equal(assertProblem(url, 400).request_id, "bad-url-1");
});

test("a failing handler is a 500 problem that does not leak the error", async (t) => {
  const app = await buildTestApp(t, { setup: testRoutes });
  const res = await app.inject({ method: "GET", url: "/test/boom" });
  const body = assertProblem(res, 500);
  assert.doesNotMatch(res.body, /ECONNREFUSED|hunter2|10\.0\.0\.7|stack/);
  assert.match(body.detail, new RegExp(body.request_id));
});

test("a sane x-request-id is echoed back and into the problem; a bad one is replaced", async (t) => {
  const app = await buildTestApp(t);
  const ok = await app.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": "trace-42.abc:1" } });
  assert.equal(ok.headers["x-request-id"], "trace-42.abc:1");
  const missing = await app.inject({ method: "GET", url: "/missing", headers: { "x-request-id": "trace-43" } });
  assert.equal(missing.json().request_id, "trace-43");

  for (const bad of ["has space", "x".repeat(129), "line\u2028break", ""]) {
    const res = await app.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": bad } });
    const id = String(res.headers["x-request-id"]);
    assert.notEqual(id, bad);
    assert.match(id, /^[0-9a-f-]{36}$/);
  }
  const fresh = await app.inject({ method: "GET", url: "/healthz" });
  assert.match(String(fresh.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
});

test("the OpenAPI document and the docs UI are served at /docs", async (t) => {
  const app = await buildTestApp(t);
  const ui = await app.inject({ method: "GET", url: "/docs" });
  assert.equal(ui.statusCode, 200);
  const spec = (await app.inject({ method: "GET", url: "/docs/json" })).json();
  assert.equal(spec.info.title, "maskforge");
  assert.match(spec.openapi, /^3\./);
  assert.ok(spec.paths["/readyz"]);
  assert.ok(spec.components.schemas.Problem);
});

test("log lines of a request carry its request id", async (t) => {
  const lines: Record<string, unknown>[] = [];
  const stream = { write: (line: string) => void lines.push(JSON.parse(line)) };
  const app = await buildTestApp(t, { setup: testRoutes, logger: { level: "info", stream } });
  await app.inject({ method: "GET", url: "/test/boom", headers: { "x-request-id": "log-join-7" } });
  const mine = lines.filter((l) => l.request_id === "log-join-7");
  assert.ok(mine.some((l) => l.msg === "request failed" && l.level === 50), JSON.stringify(lines));
  assert.ok(mine.some((l) => l.msg === "request completed"));
});
