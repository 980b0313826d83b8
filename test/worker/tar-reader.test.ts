// The same MaskLLM job with the model from a {url} (a .tar.gz over https from a local server, private sources
// allowed for the test) and from {hf} (a local server speaking the Hub API, with a token), plus the tar reader
// refusing an archive entry that would land outside the model folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { extractTar } from "../../src/worker/source/tar.js";
import { ByteBudget } from "../../src/worker/files.js";
import { startHfHubServer } from "../helpers/hf-hub-server.js";
import { heldoutSlice, jobSpec, putDataFile, startWorker, stories260K, submit, waitForStatus, workerEnv } from "./helpers.js";
import { checkExport } from "./export-check.js";

function spec(source: Record<string, unknown>, evalFile: string) {
  return jobSpec({
    source, prior: "magnitude",
    calibration: { dataset: "builtin:tinystories", samples: 8, seq_len: 64 },
    training: { steps: 20, batch_size: 2, snapshot_every: 0, seed: 3 },
    eval: { datasets: [`file:${evalFile}`], seq_len: 64 },
  });
}

test("tar reader refuses entries outside the folder and links", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-tar-"));
  execFileSync("sh", ["-c", `cd ${dir} && mkdir -p a && echo hi > a/x && ln -s /etc/passwd a/link && tar -cf ok.tar a/x && tar -cf link.tar a/link && tar -cf dots.tar --transform 's,^a/x,../x,' a/x`]);
  const files = await extractTar(Readable.from(await readFile(join(dir, "ok.tar"))), join(dir, "out1"), { gzip: false, budget: new ByteBudget(1e6, "t") });
  assert.deepEqual(files.map((f) => [f.name, f.bytes]), [["a/x", 3]]);
  await assert.rejects(extractTar(Readable.from(await readFile(join(dir, "link.tar"))), join(dir, "out2"), { gzip: false, budget: new ByteBudget(1e6, "t") }), /link or special file/);
  await assert.rejects(extractTar(Readable.from(await readFile(join(dir, "dots.tar"))), join(dir, "out3"), { gzip: false, budget: new ByteBudget(1e6, "t") }), /outside the model folder/);
  await assert.rejects(extractTar(Readable.from(await readFile(join(dir, "ok.tar"))), join(dir, "out4"), { gzip: false, budget: new ByteBudget(2, "the model") }), /larger than the limit/);
});

test("{url} .tar.gz over https and {hf} through the Hub API run to the same kind of export", { timeout: 240_000 }, async (t) => {
  const src = await stories260K();
  const work = await mkdtemp(join(tmpdir(), "mf-remote-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", join(work, "key.pem"), "-out", join(work, "cert.pem")], { stdio: "ignore" });
  execFileSync("tar", ["-czf", join(work, "model.tar.gz"), "-C", join(src, ".."), "hf"]);
  const archive = await readFile(join(work, "model.tar.gz"));
  const https = createServer({ key: await readFile(join(work, "key.pem")), cert: await readFile(join(work, "cert.pem")) }, (req, res) => {
    if (req.url === "/models/stories.tar.gz") res.writeHead(200, { "content-length": archive.length }).end(archive);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
  t.after(() => https.close());
  const hub = await startHfHubServer({ "karpathy/stories260K": { dir: src, token: "hf_test_token" } });
  t.after(() => hub.close());

  const e = await workerEnv(t, { ALLOW_PRIVATE_SOURCES: "true", HF_ENDPOINT: hub.endpoint });
  const evalText = await heldoutSlice(6);
  const evalFile = await putDataFile(e, evalText);
  await writeFile(join(work, "ca.pem"), await readFile(join(work, "cert.pem")));
  const worker = startWorker(t, { ...e.env, NODE_EXTRA_CA_CERTS: join(work, "ca.pem") });

  const urlJob = await submit(e, spec({ url: `https://127.0.0.1:${(https.address() as AddressInfo).port}/models/stories.tar.gz` }, evalFile));
  const hfJob = await submit(e, spec({ hf: { repo: "karpathy/stories260K", revision: "main", token: "hf_test_token" } }, evalFile));
  await waitForStatus(e, urlJob, ["succeeded"], 150_000, worker);
  await waitForStatus(e, hfJob, ["succeeded"], 150_000, worker);
  await checkExport(e, urlJob, src, evalText);
  await checkExport(e, hfJob, src, evalText);
  assert.ok(hub.requests.some((r) => r.path === "/api/models/karpathy/stories260K/revision/main" && r.authorization === "Bearer hf_test_token"));
  assert.ok(hub.requests.some((r) => r.path === "/cdn/karpathy/stories260K/model.safetensors"), "resolve redirects were followed");
});
