// The dashboard in a real browser: Debian's chromium driven by playwright-core (no browser download). The key
// is entered once, a MaskLLM job is submitted through the form, and the job page follows it live over SSE while
// a simulated worker (the repository calls the real worker makes) trains, evaluates and stores a report; the
// page must end with the curves, the perplexity and per-layer tables and the download buttons. A screenshot
// goes to a temporary path, printed for people to look at.
//
// Needs playwright-core (npm i -D playwright-core) and chromium (apt-get install -y chromium); without either
// the test fails and says what to install, rather than skipping unseen.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { App } from "../../../src/api/app.js";
import { ApiClient } from "../../../src/cli/client/api-client.js";
import { uploadCheckpointDir } from "../../../src/cli/commands/checkpoints.js";
import { appendEvent } from "../../../src/db/jobs.repository.js";
import { setStage, transition } from "../../../src/db/transitions.js";
import { newTenant, prisma, TINY_CONFIG, TINY_WEIGHTS, v1App, type TestTenant } from "../../helpers/v1-api.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// the flags Debian's chromium needs on a machine without a display, a sandbox or a network beyond localhost
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

type Playwright = typeof import("playwright-core");

async function loadPlaywright(): Promise<Playwright> {
  try {
    return await import("playwright-core");
  } catch (err) {
    throw new Error(`playwright-core is not installed: run \`npm i -D playwright-core\` (it drives the system chromium; no browser download). (${(err as Error).message})`);
  }
}

let app: App;
let apiUrl: string;
let tenant: TestTenant;
let work: string;
const closers: Array<() => unknown> = [];

before(async () => {
  app = await v1App({ after: (fn: () => unknown) => void closers.push(fn) } as never);
  apiUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  tenant = await newTenant();
  work = await mkdtemp(join(tmpdir(), "maskforge-dash-"));
});
after(async () => {
  for (const close of closers) await close();
  await rm(work, { recursive: true, force: true });
});

/** The worker's side of a MaskLLM run, through the same repository calls and artifact rows it writes. */
async function simulateWorker(jobId: string, steps: number) {
  await transition(prisma, jobId, ["queued"], "running");
  await setStage(prisma, jobId, "training", { progress: 0.2 });
  for (let step = 1; step <= steps; step++) {
    await appendEvent(prisma, jobId, { type: "job.metrics", data: { step, steps, loss: 3 / step + 1, tau: 4 * 0.5 ** step, maskChange: 0.2 / step } });
    await new Promise((r) => setTimeout(r, 150));
  }
  await setStage(prisma, jobId, "evaluating", { progress: 0.9 });
  const evals = [{ dataset: "builtin:tinystories-heldout", seqLen: 256, windows: 4, tokens: 1020, densePerplexity: 9.25, sparsePerplexity: 11.5 }];
  const report = { format: "maskforge-sparsity", sparsity: 0.5, layers: [{ name: "model.layers.0.self_attn.q_proj", shape: [4, 4], sparsity: 0.5, nmVerified: true }, { name: "model.layers.0.mlp.down_proj", shape: [4, 8], sparsity: 0.5, nmVerified: true }], eval: evals };
  for (const [kind, name, body] of [["report", "sparsity.json", JSON.stringify(report)], ["mask_npz", "mask_compressed.npz", "npz bytes"]] as const) {
    const put = await app.storage.put(`jobs/${jobId}/model/${name}`, Buffer.from(body), { contentType: "application/octet-stream" });
    await prisma.artifact.create({ data: { jobId, kind, name, storageKey: put.key, bytes: BigInt(put.bytes), sha256: put.sha256 } });
  }
  await transition(prisma, jobId, ["running"], "succeeded", { metrics: { sparsity: 0.5, eval: evals, densePerplexity: 9.25, sparsePerplexity: 11.5 } });
}

it("submits a job through the form and follows it to the end: curves, perplexity, layers, downloads", { timeout: 120_000 }, async () => {
  const pw = await loadPlaywright();
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`);

  const ckptDir = join(work, "ckpt");
  await import("node:fs/promises").then((f) => f.mkdir(ckptDir));
  await writeFile(join(ckptDir, "config.json"), JSON.stringify(TINY_CONFIG));
  await writeFile(join(ckptDir, "model.safetensors"), TINY_WEIGHTS);
  const ckpt = await uploadCheckpointDir(new ApiClient({ apiUrl, apiKey: tenant.key }), ckptDir, { quiet: true });

  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const problems: string[] = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => void (msg.type() === "error" && problems.push(`console: ${msg.text()}`)));
    page.on("requestfailed", (req) => void (new URL(req.url()).origin !== apiUrl && problems.push(`request to another origin: ${req.url()}`)));

    await page.goto(`${apiUrl}/`);
    await page.getByTestId("key-input").fill(tenant.key);
    await page.getByTestId("key-save").click();
    await page.getByTestId("jobs-table").waitFor();

    // the key is kept: a reload does not ask again
    await page.reload();
    await page.getByTestId("jobs-table").waitFor();
    assert.equal(await page.getByTestId("key-form").isHidden(), true);

    await page.getByTestId("nav-new").click();
    await page.locator(`[data-testid=form-checkpoint] option[value="${ckpt.id}"]`).waitFor({ state: "attached" });
    await page.getByTestId("form-checkpoint").selectOption(ckpt.id);
    await page.getByTestId("form-method").selectOption("maskllm");
    await page.getByTestId("form-steps").fill("6");
    await page.getByTestId("form-name").fill("browser test job");
    await page.getByTestId("form-submit").click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const jobId = /#\/jobs\/([0-9a-f-]{36})$/.exec(page.url())![1];

    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    assert.equal(job.tenantId, tenant.id);
    const spec = job.spec as { method: string; training: { steps: number }; metadata: { name: string }; source: { checkpoint_id: string } };
    assert.deepEqual([spec.method, spec.training.steps, spec.metadata.name, spec.source.checkpoint_id], ["maskllm", 6, "browser test job", ckpt.id]);
    await page.getByTestId("job-status").filter({ hasText: "queued" }).waitFor();

    await simulateWorker(jobId, 6);

    await page.getByTestId("job-status").filter({ hasText: "succeeded" }).waitFor({ timeout: 20_000 });
    await page.getByTestId("perplexity").waitFor();
    await page.getByTestId("layers").waitFor();
    const charts = page.locator("[data-testid=charts] svg.chart");
    await assert.doesNotReject(() => charts.nth(2).waitFor({ timeout: 10_000 }));
    assert.equal(await charts.count(), 3, "loss, τ and mask change");
    // once finished, every curve has all six points (a path with 6 vertices: M + 5 L)
    await page.waitForFunction(() => Array.from(document.querySelectorAll("[data-testid=charts] path.series")).map((p) => (p.getAttribute("d") ?? "").split(/[ML]/).filter(Boolean).length).join() === "6,6,6", undefined, { timeout: 10_000 });
    const ppl = await page.getByTestId("perplexity").innerText();
    assert.match(ppl, /9\.250/);
    assert.match(ppl, /11\.500/);
    assert.match(await page.getByTestId("layers").innerText(), /model\.layers\.0\.mlp\.down_proj[\s\S]*50\.00%/);
    const downloads = page.getByTestId("downloads").locator("button");
    assert.deepEqual((await downloads.allInnerTexts()).map((t) => t.split(" ")[0]).sort(), ["mask_compressed.npz", "sparsity.json"]);

    // a download carries the key (a blob link) and saves the stored bytes
    const [download] = await Promise.all([page.waitForEvent("download"), downloads.filter({ hasText: "mask_compressed.npz" }).click()]);
    const saved = join(work, "downloaded.npz");
    await download.saveAs(saved);
    assert.equal((await import("node:fs/promises").then((f) => f.readFile(saved, "utf8"))), "npz bytes");

    const shot = join(tmpdir(), `maskforge-dashboard-${jobId}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    process.stdout.write(`# dashboard screenshot: ${shot}\n`);

    // the list shows it as finished too
    await page.goto(`${apiUrl}/#/`);
    await page.locator(`tr[data-job-id="${jobId}"] [data-testid=job-status]`).filter({ hasText: "succeeded" }).waitFor();
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
