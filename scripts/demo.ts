// `npm run demo [-- --steps N]`: the main job in one command. Makes sure Postgres and Redis answer (starting
// them the way .ci/run does), creates and migrates the database, starts the API and a worker as child
// processes on free ports, creates an API key, converts stories260K to a Hugging Face folder, uploads it,
// submits a MaskLLM 2:4 job and a SparseGPT baseline, follows both live, downloads their outputs and prints a
// table of perplexities, times and file locations. Whatever it started it stops again: on success, on
// failure and on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config.js";
import { ApiClient } from "../src/cli/client/api-client.js";
import { CliError } from "../src/cli/client/errors.js";
import { followJobs } from "../src/cli/client/follow.js";
import { evalFigures } from "../src/cli/client/job-format.js";
import { buildJobBody } from "../src/cli/client/job-spec-input.js";
import { formatDuration, progressBoard } from "../src/cli/client/progress.js";
import type { JobView } from "../src/contract/api/components.js";
import { uploadCheckpointDir } from "../src/cli/commands/checkpoints.js";
import { downloadArtifacts } from "../src/cli/commands/jobs.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
/** Training steps of the demo's MaskLLM job by default: a few minutes on 2 cores (the paper runs 2000). */
const DEFAULT_STEPS = 60;
const QUEUE_PREFIX = "maskforge-demo";

const { values: args } = parseArgs({
  options: {
    steps: { type: "string" },
    "keep-services": { type: "boolean", default: false },
    "full-eval": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  process.stdout.write(
    `usage: npm run demo [-- --steps N] [--keep-services]\n\n` +
      `  --steps N          MaskLLM training steps (default ${DEFAULT_STEPS}; the spec file says 500, the paper 2000)\n` +
      `  --full-eval        also evaluate on Wikitext-2, as the spec files do (several more minutes per job on 2 cores)\n` +
      `  --keep-services    leave Postgres/Redis running if the demo had to start them\n`,
  );
  process.exit(0);
}
const steps = args.steps === undefined ? DEFAULT_STEPS : Number(args.steps);
if (!Number.isInteger(steps) || steps < 1) {
  process.stderr.write(`demo: --steps must be a positive integer, got ${JSON.stringify(args.steps)}\n`);
  process.exit(2);
}

const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);
const config = loadConfig();
const runDir = resolve(ROOT, ".data/demo", new Date().toISOString().replace(/[:.]/g, "-"));
mkdirSync(runDir, { recursive: true });
const servicesState = join(mkdtempSync(join(tmpdir(), "maskforge-demo-")), "services.env");

// ---- cleanup: children first (their whole process groups: the worker runs its jobs in sandboxes), then services

const children: { name: string; proc: ChildProcess }[] = [];
const submitted: string[] = [];
let client: ApiClient | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    // jobs still going would be picked up by the next demo's worker: cancel them while the API is up
    if (client)
      await Promise.all(submitted.map((id) => client!.cancelJob(id).catch(() => {})));
    for (const { proc } of children) if (proc.exitCode === null && proc.signalCode === null) signalGroup(proc, "SIGTERM");
    const deadline = Date.now() + 15_000;
    for (const { name, proc } of children) {
      while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (proc.exitCode === null && proc.signalCode === null) {
        say(`${name} did not stop within 15 s; killing it`);
        signalGroup(proc, "SIGKILL");
      }
    }
    if (!args["keep-services"]) spawnSync("bash", [join(ROOT, "scripts/ensure-services.sh"), "stop", "--state", servicesState], { stdio: "inherit" });
    rmSync(join(servicesState, ".."), { recursive: true, force: true });
  })();
  return cleaning;
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-proc.pid!, signal);
  } catch {
    proc.kill(signal);
  }
}

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    say(`${sig}: stopping everything the demo started`);
    void cleanup().then(() => process.exit(130));
  });

// ---- helpers

function run(what: string, cmd: string, argv: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, argv, { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${r.stderr || r.stdout}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, "close");
  return port;
}

/** A child in its own process group, its output kept in a log file (shown if it dies early). */
function start(name: string, script: string, env: Record<string, string>): ChildProcess {
  const logFile = join(runDir, `${name}.log`);
  const proc = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const sink = createWriteStream(logFile, { flags: "a" });
  proc.stdout!.pipe(sink);
  proc.stderr!.pipe(sink);
  proc.on("exit", (code, signal) => {
    if (!cleaning) {
      say(`${name} exited early (${code ?? signal}); its log: ${relative(ROOT, logFile)}`);
      process.stderr.write(tail(logFile));
      void cleanup().then(() => process.exit(1));
    }
  });
  children.push({ name, proc });
  return proc;
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n") + "\n";
  } catch {
    return "";
  }
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the API at ${url} was not ready within ${timeoutMs / 1000} s (${last})`);
}

// ---- the demo

async function main(): Promise<number> {
  const t0 = performance.now();
  say("checking Postgres and Redis (starting them if needed)");
  run("scripts/ensure-services.sh", "bash", [join(ROOT, "scripts/ensure-services.sh"), "start", "--state", servicesState]);

  say(`database ${new URL(config.databaseUrl).pathname.slice(1)}: create if missing, migrate`);
  run("creating/migrating the database", process.execPath, [join(ROOT, "scripts/test-setup.mjs")], { TEST_DATABASE_URL: config.databaseUrl });

  const [port, metricsPort] = [await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: config.databaseUrl,
    REDIS_URL: config.redisUrl,
    QUEUE_PREFIX: QUEUE_PREFIX,
    STORAGE_DRIVER: "local",
    // one store for every demo run, like the one database: a job left by an interrupted run still finds its files
    LOCAL_STORAGE_DIR: resolve(ROOT, ".data/demo/blobs"),
    SHARED_DIR: config.sharedDir,
    HOST: "127.0.0.1",
    PORT: String(port),
    WORKER_METRICS_PORT: String(metricsPort),
    // one sandbox per job: on 2 cores both jobs move at once
    WORKER_CONCURRENCY: "2",
    LOG_LEVEL: "info",
  };
  say(`starting the API on ${apiUrl} and a worker (logs in ${relative(ROOT, runDir)}/)`);
  start("api", join(ROOT, "src/api/server.ts"), env);
  start("worker", join(ROOT, "src/worker/main.ts"), env);
  await waitReady(apiUrl, 60_000);

  say("creating an API key (maskforge keys create)");
  const created = JSON.parse(run("maskforge keys create", "npx", ["maskforge", "keys", "create", "--tenant", "demo", "--name", `demo-${Date.now()}`, "--json"], { DATABASE_URL: config.databaseUrl })) as { key: string };
  client = new ApiClient({ apiUrl, apiKey: created.key });
  // an interrupted earlier run may have left jobs behind; they would compete with this run's for the cores
  for (const status of ["queued", "running"]) {
    const page = await client.listJobs({ status, limit: 100 });
    for (const j of page.items) {
      await client.cancelJob(j.id).catch(() => {});
      say(`cancelled job ${j.id} left ${status} by an earlier run`);
    }
  }

  const model = join(config.sharedDir, "models/stories260K");
  const hfDir = join(runDir, "stories260K-hf");
  say(`converting ${relative(ROOT, model) || model}/stories260K.bin to a Hugging Face folder (maskforge import-llama2c)`);
  run("maskforge import-llama2c", "npx", ["maskforge", "import-llama2c", join(model, "stories260K.bin"), "--tokenizer", join(model, "tok512.model"), "--out", hfDir]);

  say("uploading it (POST /v1/checkpoints)");
  const ckpt = await uploadCheckpointDir(client, hfDir, { name: "stories260K" });
  say(`checkpoint ${ckpt.id} ready (${ckpt.architecture ?? "?"}, ${ckpt.files?.length ?? 0} files)`);

  // the spec files evaluate on held-out TinyStories and on Wikitext-2, which is 2.5x the text (1.3 MB vs
  // 0.5 MB) and evaluated twice per job (dense and sparse): the default demo keeps to the former
  const evalSets = args["full-eval"] ? undefined : ["builtin:tinystories-heldout"];
  const maskllmBody = await buildJobBody({ file: join(ROOT, "jobs/maskllm-2-4-stories260k.json"), checkpoint: ckpt.id, steps, eval: evalSets });
  const sparsegptBody = await buildJobBody({ file: join(ROOT, "jobs/sparsegpt-baseline.json"), checkpoint: ckpt.id, eval: evalSets });
  const jobs: JobView[] = [];
  for (const body of [sparsegptBody, maskllmBody]) {
    const job = await client.createJob(body);
    submitted.push(job.id);
    jobs.push(job);
  }
  say(`submitted SparseGPT ${jobs[0].id} and MaskLLM ${jobs[1].id} (${steps} steps; eval on ${(evalSets ?? maskllmBody.eval.datasets).join(", ")})`);
  say(`live in the dashboard: ${apiUrl}/ with the key ${created.key}`);

  const board = progressBoard({ stream: process.stderr });
  let done: JobView[];
  try {
    done = await followJobs(client, jobs, board, { pollMs: 1000 });
  } finally {
    board.stop();
  }
  submitted.length = 0;
  const failed = done.filter((j) => j.status !== "succeeded");
  for (const j of failed) say(`job ${j.id} ${j.status}: ${j.error?.code ?? ""} ${j.error?.message ?? ""}`);

  const out: Record<string, { model?: string; mask?: string }> = {};
  for (const j of done.filter((x) => x.status === "succeeded")) {
    const dir = join(runDir, "out", j.spec.method);
    const saved = await downloadArtifacts(client, await client.jobArtifacts(j.id).then((a) => a.filter((x) => x.kind !== "snapshot")), dir, false);
    out[j.id] = { model: saved.some((s) => s.kind === "model_file") ? dir : undefined, mask: saved.find((s) => s.kind === "mask_npz")?.path };
  }

  printTable(done, out);
  process.stdout.write(`\nAPI key of this run (tenant demo): ${created.key}\n`);
  process.stdout.write(`demo took ${formatDuration((performance.now() - t0) / 1000)}; everything it wrote is under ${relative(ROOT, runDir)}/\n`);
  return failed.length === 0 ? 0 : 1;
}

function printTable(done: JobView[], out: Record<string, { model?: string; mask?: string }>) {
  const datasets = [...new Set(done.flatMap((j) => evalFigures(j.metrics).map((e) => e.dataset)))];
  const short = (d: string) => d.replace(/^builtin:/, "");
  const took = (j: JobView) => (j.startedAt && j.finishedAt ? formatDuration((Date.parse(j.finishedAt) - Date.parse(j.startedAt)) / 1000) : "");
  const rel = (p?: string) => (p ? relative(process.cwd(), p) || "." : "");
  const header = ["model", ...datasets.map((d) => `ppl ${short(d)}`), "time", "status", "exported model", "mask"];
  const rows: string[][] = [];
  const dense = done.map((j) => evalFigures(j.metrics)).find((e) => e.length > 0);
  if (dense) rows.push(["dense (stories260K)", ...datasets.map((d) => dense.find((e) => e.dataset === d)?.dense.toFixed(3) ?? ""), "", "", "", ""]);
  for (const j of done) {
    const figures = evalFigures(j.metrics);
    const name = j.spec.method === "maskllm" ? `MaskLLM ${j.spec.pattern} (${j.spec.training.steps} steps)` : `SparseGPT ${j.spec.pattern}`;
    rows.push([name, ...datasets.map((d) => figures.find((e) => e.dataset === d)?.sparse.toFixed(3) ?? ""), took(j), j.status, rel(out[j.id]?.model), rel(out[j.id]?.mask)]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  process.stdout.write(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n${rows.map(line).join("\n")}\n`);
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (!interrupted) say(err instanceof CliError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err));
  code = 1;
}
if (!interrupted) {
  await cleanup();
  process.exit(code);
}
