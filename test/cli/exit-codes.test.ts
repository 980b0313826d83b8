// `maskforge jobs|checkpoints|masks` as a process: what a script sees (exit code, stdout JSON, stderr message)
// for success, a missing object and a usage error. Three processes in parallel: each start loads the whole CLI.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { App } from "../../src/api/app.js";
import { EXIT } from "../../src/cli/client/exit-codes.js";
import { newTenant, v1App, type TestTenant } from "../helpers/v1-api.js";

let app: App;
let apiUrl: string;
let tenant: TestTenant;
const closers: Array<() => unknown> = [];

before(async () => {
  app = await v1App({ after: (fn: () => unknown) => void closers.push(fn) } as never);
  apiUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  tenant = await newTenant();
});
after(async () => {
  for (const close of closers) await close();
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["bin/maskforge.js", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("exit codes: 0 with JSON on stdout, 4 with the problem detail for a missing job, 2 for a usage error", { timeout: 120_000 }, async () => {
  const missing = randomUUID();
  const [list, get, usage] = await Promise.all([
    // the key from the environment (MASKFORGE_API_KEY through src/config.ts), the URL from the flag
    cli(["jobs", "list", "--json", "--api-url", apiUrl], { MASKFORGE_API_KEY: tenant.key }),
    cli(["jobs", "get", missing, "--api-url", apiUrl, "--api-key", tenant.key]),
    cli(["jobs", "create", "--method", "sparsegpt", "--api-url", apiUrl, "--api-key", tenant.key]),
  ]);
  assert.equal(list.code, EXIT.ok, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), { items: [], nextCursor: null });
  assert.equal(get.code, EXIT.notFound, get.stderr);
  assert.match(get.stderr, new RegExp(`no job ${missing}`));
  assert.equal(get.stdout, "");
  assert.equal(usage.code, EXIT.usage, usage.stderr);
  assert.match(usage.stderr, /--checkpoint <id>/);
});
