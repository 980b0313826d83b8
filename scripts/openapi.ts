// `npm run openapi`: regenerates openapi/openapi.json from the route schemas (never edit that file by hand;
// test/api/openapi-drift.test.ts fails when it is stale).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderOpenApi } from "../src/api/openapi.js";

const target = resolve(dirname(fileURLToPath(import.meta.url)), "../openapi/openapi.json");
await mkdir(dirname(target), { recursive: true });
await writeFile(target, await renderOpenApi());
process.stdout.write(`wrote ${target}\n`);
