// Issue 8: the README's curl walkthrough runs as written. The first ```sh block after "## The API (walkthrough
// with curl)" is read from README.md at test time (so a README edit is what gets tested) and run with bash
// against the real API on a free port (test database, its own queue prefix, a temp blob store). No worker
// runs, so the job stays queued until the script cancels it, and the final SSE curl must end by itself.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { delimiter, join, resolve } from "node:path";
import { Redis } from "ioredis";
import { buildApp, type App } from "../src/api/app.js";
import { createPrisma } from "../src/db/client.js";
import { testConfig } from "./helpers/config.js";

const ROOT = resolve(import.meta.dirname, "..");
const HEADING = "## The API (walkthrough with curl)";
const TENANT = "me"; // the name the walkthrough's `keys create --tenant me` uses
const SCRIPT_TIMEOUT_MS = 180_000;

/** The first ```sh fenced block after the walkthrough heading. */
async function walkthroughScript(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf(`\n${HEADING}\n`);
  assert.ok(at >= 0, `README.md has no "${HEADING}" section`);
  const block = /\n```sh\n([\s\S]*?)\n```/.exec(readme.slice(at));
  assert.ok(block, `no \`\`\`sh block after "${HEADING}"`);
  return block[1]!;
}

/** Splits back-to-back JSON values off the start of `text`; `rest` is what follows the last one. */
function leadingJsonValues(text: string): { values: unknown[]; rest: string } {
  const values: unknown[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text[i] !== "{" && text[i] !== "[") return { values, rest: text.slice(i) };
    let depth = 0;
    let inString = false;
    let end = i;
    for (; end < text.length; end++) {
      const c = text[end]!;
      if (inString) {
        if (c === "\\") end++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) break;
      }
    }
    values.push(JSON.parse(text.slice(i, end + 1)));
    i = end + 1;
  }
}

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    // a hanging SSE curl would otherwise hold the test until the runner's own timeout: kill the whole group
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, SCRIPT_TIMEOUT_MS);
    child.on("error", fail);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

describe("README curl walkthrough", () => {
  const config = testConfig({ QUEUE_PREFIX: `test-readme-${randomUUID()}` });
  const prisma = createPrisma(config.databaseUrl, { maxConnections: 2 });
  let app: App;
  let api: string;

  before(async () => {
    // the walkthrough's tenant has a fixed name: start from none, so its rows are this run's
    await prisma.tenant.deleteMany({ where: { name: TENANT } });
    app = await buildApp(config, { logger: false });
    api = await app.listen({ port: 0, host: "127.0.0.1" });
  });

  after(async () => {
    await app?.close();
    await prisma.tenant.deleteMany({ where: { name: TENANT } });
    await prisma.$disconnect();
    const redis = new Redis(config.redisUrl);
    const keys = await redis.keys(`${config.queuePrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    if (config.storage.driver === "local") await rm(config.storage.dir, { recursive: true, force: true });
    await rm("/tmp/stories260K-hf", { recursive: true, force: true });
  });

  it("runs as written: key, import, upload, job, status reads, cancel, and an SSE stream that ends", { timeout: SCRIPT_TIMEOUT_MS + 30_000 }, async (t) => {
    const script = await walkthroughScript();
    assert.match(script, /\$API\/v1\/jobs\/\$JOB\/events/, "the block is the walkthrough (it ends with the event stream)");
    const started = Date.now();
    const res = await runBash(script, {
      ...process.env,
      API: api,
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
      QUEUE_PREFIX: config.queuePrefix,
      STORAGE_DRIVER: "local",
      LOCAL_STORAGE_DIR: config.storage.driver === "local" ? config.storage.dir : "",
      LOG_LEVEL: "silent",
      PATH: [join(ROOT, "node_modules", ".bin"), process.env.PATH ?? ""].join(delimiter),
    });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(res.signal, null, `the walkthrough did not finish within ${SCRIPT_TIMEOUT_MS / 1000} s (killed); stderr:\n${res.stderr}\nstdout:\n${res.stdout}`);
    assert.equal(res.code, 0, `the walkthrough exited ${res.code}; stderr:\n${res.stderr}\nstdout:\n${res.stdout}`);

    const tenant = await prisma.tenant.findUnique({ where: { name: TENANT } });
    assert.ok(tenant, `keys create made tenant "${TENANT}"`);
    const checkpoints = await prisma.checkpoint.findMany({ where: { tenantId: tenant.id } });
    assert.equal(checkpoints.length, 1);
    assert.equal(checkpoints[0]!.status, "ready");
    const jobs = await prisma.job.findMany({ where: { tenantId: tenant.id } });
    assert.equal(jobs.length, 1);
    const job = jobs[0]!;
    assert.equal(job.status, "cancelled");
    assert.equal(job.checkpointId, checkpoints[0]!.id);
    assert.equal((job.spec as { training: { steps: number } }).training.steps, 40, "the jq edit of the spec reached the job");

    // curl prints the answers back to back (no newline between them): the JSON values, then the SSE text
    const out = res.stdout;
    const { values, rest } = leadingJsonValues(out.slice(out.indexOf("{")));
    assert.equal(values.length, 5, `job, metrics, artifacts, masks and cancel answers:\n${out}`);
    const [shown, metrics, artifacts, masks, cancelled] = values as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    // no worker runs here, so the job is still queued when the script reads it
    assert.equal(shown.id, job.id);
    assert.equal(shown.status, "queued");
    assert.equal(metrics.jobId, job.id);
    assert.ok(Array.isArray(artifacts.items));
    assert.ok(Array.isArray(masks.items));
    const cancelledJob = (cancelled.job ?? cancelled) as Record<string, unknown>;
    assert.equal(cancelledJob.id, job.id);
    assert.equal(cancelledJob.status, "cancelled");
    // the event stream: SSE framing with ids, through to the final event
    assert.match(rest, /^event: job\.created$/m, `the stream starts at the job's first event:\n${rest}`);
    assert.match(rest, /^id: \S+$/m);
    assert.match(rest, /^event: job\.cancelled$/m, `the stream carries job.cancelled:\n${rest}`);
    const lastEvent = [...rest.matchAll(/^event: (\S+)$/gm)].at(-1)?.[1];
    assert.equal(lastEvent, "job.cancelled", "the stream ends after the job's final event");
    t.diagnostic(`README walkthrough ran in ${seconds.toFixed(1)} s`);
  });
});
