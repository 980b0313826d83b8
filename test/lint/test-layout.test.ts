// The test tree mirrors src: a test of src/<path>/ lives in test/<path>/, so its folder says what it covers and a
// newcomer finds the tests of a file next door to where the file would be. Three folders are not src's: helpers
// (the one home of everything under test/ that is not a test), lint (checks over the whole tree) and infra (the
// deployment files at the root). Top-level tests cover top-level files (src/config.ts, README.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const OWN = ["helpers", "lint", "infra"];

const entries = readdirSync(join(root, "test"), { withFileTypes: true, recursive: true })
  .filter((e) => !e.parentPath.split(sep).includes("node_modules"))
  .map((e) => ({ path: relative(join(root, "test"), join(e.parentPath, e.name)).split(sep).join("/"), dir: e.isDirectory() }));

test("every folder under test/ is a folder of src/, but helpers, lint and infra", () => {
  assert.ok(entries.length > 50, `found only ${entries.length} entries under test`);
  const strays = entries
    .filter((e) => e.dir && !OWN.includes(e.path.split("/")[0]))
    .filter((e) => !statSync(join(root, "src", e.path), { throwIfNoEntry: false })?.isDirectory())
    .map((e) => `test/${e.path}`);
  assert.deepEqual(strays, [], `folders with no src/ counterpart: ${strays.join(", ")}`);
});

test("every file under test/ is a *.test.ts, but those in test/helpers", () => {
  const strays = entries.filter((e) => !e.dir && !e.path.startsWith("helpers/") && !e.path.endsWith(".test.ts")).map((e) => `test/${e.path}`);
  assert.deepEqual(strays, [], `helpers outside test/helpers: ${strays.join(", ")}`);
  const tests = entries.filter((e) => e.path.startsWith("helpers/") && e.path.endsWith(".test.ts")).map((e) => `test/${e.path}`);
  assert.deepEqual(tests, [], `tests inside test/helpers: ${tests.join(", ")}`);
});
