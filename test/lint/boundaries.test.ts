// The folder rules of eslint.config.js, checked by feeding ESLint a forbidden line per rule (and clean files
// that must pass), so a config edit that silently drops a boundary fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

const eslint = new ESLint({ cwd: fileURLToPath(new URL("../..", import.meta.url)) });

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages.map((m) => `${m.ruleId ?? "fatal"}: ${m.message}`);
}

const forbidden: [string, string, string, RegExp][] = [
  ["src/maskllm imports node:fs", "src/maskllm/mask/probe.ts", 'import { readFileSync } from "node:fs";\nexport const f = readFileSync;\n', /no-restricted-imports: .*src\/maskllm is the pure ML core/],
  ["src/maskllm imports another npm package", "src/maskllm/probe.ts", 'import { pino } from "pino";\nexport const f = pino;\n', /no-restricted-imports/],
  ["src/maskllm (nested) imports the db", "src/maskllm/mask/probe.ts", 'import { createPrisma } from "../../db/client.js";\nexport const f = createPrisma;\n', /no-restricted-imports: .*src\/maskllm imports only its own files/],
  ["src/maskllm (top) imports the db", "src/maskllm/probe.ts", 'import { createPrisma } from "../db/client.js";\nexport const f = createPrisma;\n', /no-restricted-imports: .*src\/maskllm imports only its own files/],
  ["src/api imports the ML core", "src/api/routes/probe.ts", 'import { x } from "../../maskllm/mask/patterns.js";\nexport const f = x;\n', /no-restricted-imports: .*The API never imports the ML core/],
  ["src/api imports the worker", "src/api/plugins/app/probe.ts", 'import "../../../worker/main.js";\n', /no-restricted-imports: .*The API never imports the worker/],
  ["src/api imports TF.js", "src/api/probe.ts", 'import * as tf from "@tensorflow/tfjs";\nexport const f = tf;\n', /no-restricted-imports: .*The API never loads TF.js/],
  ["src outside config.ts reads process.env", "src/storage/probe.ts", "export const dir = process.env.LOCAL_STORAGE_DIR;\n", /no-restricted-properties: .*Only src\/config.ts reads process.env/],
  ["src/api reads process.env", "src/api/app-probe.ts", 'export const port = process.env["PORT"];\n', /no-restricted-properties/],
];

for (const [name, filePath, code, expected] of forbidden) {
  test(`lint rejects: ${name}`, async () => {
    const messages = await ruleIds(filePath, code);
    assert.ok(messages.some((m) => expected.test(m)), `expected ${expected} for ${filePath}, got ${JSON.stringify(messages)}`);
  });
}

const clean: [string, string, string][] = [
  ["src/maskllm imports TF.js and its own files", "src/maskllm/mask/probe.ts", 'import * as tf from "@tensorflow/tfjs";\nimport { x } from "./patterns.js";\nimport { y } from "../llama/linear.js";\nexport const f = [tf, x, y];\n'],
  ["src/api imports the contract, db and storage", "src/api/routes/probe.ts", 'import { QUEUE_NAMES } from "../../contract/queues.js";\nimport { createPrisma } from "../../db/client.js";\nimport { createBlobStore } from "../../storage/index.js";\nexport const f = [QUEUE_NAMES, createPrisma, createBlobStore];\n'],
  ["src/config.ts reads process.env", "src/config.ts", "export const env = process.env;\n"],
  ["scripts may take the environment", "scripts/probe.ts", "export const home = process.env.HOME;\n"],
];

for (const [name, filePath, code] of clean) {
  test(`lint accepts: ${name}`, async () => {
    assert.deepEqual(await ruleIds(filePath, code), []);
  });
}
