import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { renderOpenApi } from "../../src/api/openapi.js";

test("openapi/openapi.json matches what the app generates", async () => {
  const committed = await readFile(new URL("../../openapi/openapi.json", import.meta.url), "utf8");
  const generated = await renderOpenApi();
  assert.ok(committed === generated, "openapi/openapi.json is stale: run npm run openapi and commit the result");
});
