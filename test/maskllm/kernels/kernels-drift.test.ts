// The committed WebAssembly kernels (base64 modules under src/maskllm/kernels) are what their AssemblyScript sources
// compile to: a stale binary would run other code than the one reviewed. `npm run build:kernels` regenerates them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { KERNELS, renderKernelModule, repoRoot } from "../../../scripts/kernels.js";

for (const k of KERNELS)
  test(`${k.target} is up to date with ${k.source} (npm run build:kernels)`, async () => {
    const committed = await readFile(resolve(repoRoot, k.target), "utf8");
    assert.ok(committed === (await renderKernelModule(k)), `${k.target} is stale: run npm run build:kernels`);
  });
