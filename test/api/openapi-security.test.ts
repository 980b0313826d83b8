import { test } from "node:test";
import assert from "node:assert/strict";
import { renderOpenApi } from "../../src/api/openapi.js";

test("every /v1 operation requires the bearerAuth scheme (an http bearer API key); probes require nothing", async () => {
  const doc = JSON.parse(await renderOpenApi());
  assert.deepEqual(doc.components.securitySchemes.bearerAuth, { type: "http", scheme: "bearer", description: "an API key: Authorization: Bearer mf_..." });
  const ops = Object.entries(doc.paths as Record<string, Record<string, { security?: unknown }>>).flatMap(([url, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ url, method, op })));
  const v1 = ops.filter((o) => o.url.startsWith("/v1/"));
  assert.ok(v1.length > 10);
  for (const { url, method, op } of v1) assert.deepEqual(op.security, [{ bearerAuth: [] }], `${method} ${url}`);
  for (const { url, method, op } of ops.filter((o) => !o.url.startsWith("/v1/"))) assert.equal(op.security, undefined, `${method} ${url}`);
});
