import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, readdir, rm, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importLlama2c } from "../../src/checkpoint/llama2c.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { SafetensorsReader } from "../../src/checkpoint/safetensors/reader.js";
import { decodeMaskNpz } from "../../src/checkpoint/mask-npz.js";
import { verifyNMMask, zerosMatchMask } from "../../src/maskllm/mask/verify.js";
import { isExactNM } from "../../src/maskllm/mask/patterns.js";
import { runPrune } from "../../src/cli/commands/prune.js";
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../src/maskllm/prune/select-layers.js";
import { PruneInputError } from "../../src/maskllm/prune/errors.js";

const run = promisify(execFile);
const shared = join(process.cwd(), "..", "shared");
let dir: string;
let model: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "prune-cli-"));
  model = join(dir, "stories260K");
  await importLlama2c({ modelPath: join(shared, "models/stories260K/stories260K.bin"), tokenizerPath: join(shared, "models/stories260K/tok512.model"), outDir: model });
  // a small calibration file: the first stories of the training sample
  const text = await readFile(join(shared, "data/tinystories/train-sample-2MiB.txt"), "utf8");
  await writeFile(join(dir, "calib.txt"), text.split("<|endoftext|>").slice(0, 12).join("<|endoftext|>") + "<|endoftext|>");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => run(process.execPath, ["bin/maskforge.js", "prune", ...args], { maxBuffer: 1 << 24 });

test("prune --method sparsegpt writes a HF folder with exact N:M zeros, unchanged config and tokenizer, and one JSON line", async () => {
  const out = join(dir, "sgpt");
  const { stdout } = await cli(model, "--method", "sparsegpt", "--pattern", "2:4", "--calib", join(dir, "calib.txt"), "--calib-samples", "4", "--seq-len", "32", "--out", out, "--json", "--backend", "wasm");
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1, stdout);
  const report = JSON.parse(lines[0]);
  assert.equal(report.allVerified, true);
  assert.equal(report.layers.length, 35);
  assert.equal(report.calibration.tokens, 4 * 32);
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"])
    assert.deepEqual(await readFile(join(out, f)), await readFile(join(model, f)), f);
  // the writer jobs use: safetensors files say their format, as transformers' save_pretrained writes them
  for (const f of (await readdir(out)).filter((n) => n.endsWith(".safetensors"))) {
    const r = await SafetensorsReader.open(join(out, f));
    assert.deepEqual(r.metadata, { format: "pt" }, f);
    await r.close();
  }
  const src = await CheckpointReader.open(model);
  const dst = await CheckpointReader.open(out);
  const masks = decodeMaskNpz(await readFile(join(out, "mask_compressed.npz")), new Map(report.layers.map((l: { name: string; shape: number[] }) => [l.name, l.shape[0] * l.shape[1]])));
  try {
    assert.deepEqual(dst.names.sort(), src.names.sort());
    for (const name of src.names) {
      const a = await src.readFloat32(name);
      const b = await dst.readFloat32(name);
      assert.deepEqual(b.shape, a.shape);
      if (/_proj\.weight$/.test(name)) {
        const [rows, cols] = b.shape;
        const mask = masks.get(name)!;
        assert.ok(verifyNMMask(mask, rows, cols, { n: 2, m: 4 }).ok, name);
        assert.ok(zerosMatchMask(b.values, mask), `${name}: a pruned weight is not an exact zero`);
        assert.ok(isExactNM(b.values, cols, { n: 2, m: 4 }), `${name}: the weights themselves are not 2:4`);
        assert.notDeepEqual(b.values, a.values.map((v, i) => (mask[i] ? v : 0)), `${name}: the update changed nothing`);
      } else assert.deepEqual(b.values, a.values, `${name} must be untouched`);
    }
  } finally {
    await src.close();
    await dst.close();
  }
});

test("a pattern the model cannot take fails clearly and leaves no output folder", async () => {
  const out = join(dir, "bad");
  const opts = { method: "magnitude", update: true, pattern: "4:8", calibFormat: "stories" as const, calibSamples: 4, seqLen: 32, seed: 0, out, json: true, targets: [...DEFAULT_TARGETS], ignore: [...DEFAULT_IGNORE], batchSize: 4, backend: "wasm" as const, prior: "sparsegpt", steps: 1, microBatches: 1 };
  // stories260K's down_proj has 172 inputs, not a multiple of 8
  await assert.rejects(runPrune(model, opts), (e: unknown) => e instanceof PruneInputError && /down_proj/.test(e.message) && /divisible by 8/.test(e.message));
  await assert.rejects(access(out));
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes("partial")), []);
  await assert.rejects(runPrune(model, { ...opts, method: "wanda", pattern: "2:4" }), /needs --calib/);
  await assert.rejects(runPrune(model, { ...opts, method: "sparsegpt", pattern: "2:4", targets: ["q_prj"], calib: join(dir, "calib.txt") }), /q_prj/);
  await assert.rejects(access(out));
});

test("prune --calib-format jsonl (and eval --text-format jsonl) read the same token stream as the stories file of the same documents", async () => {
  const text = await readFile(join(dir, "calib.txt"), "utf8");
  const docs = text.split("<|endoftext|>").map((d) => d.trim()).filter(Boolean);
  const jsonl = join(dir, "calib.jsonl");
  await writeFile(jsonl, docs.map((d) => JSON.stringify({ text: d })).join("\n") + "\n");
  const common = ["--method", "wanda", "--pattern", "2:4", "--calib-samples", "4", "--seq-len", "32", "--json", "--backend", "wasm"];
  const fromJsonl = JSON.parse((await cli(model, ...common, "--calib", jsonl, "--calib-format", "jsonl", "--out", join(dir, "w-jsonl"))).stdout);
  const fromText = JSON.parse((await cli(model, ...common, "--calib", join(dir, "calib.txt"), "--calib-format", "stories", "--out", join(dir, "w-text"))).stdout);
  assert.equal(fromJsonl.calibFormat, "jsonl");
  assert.equal(fromJsonl.allVerified, true);
  assert.deepEqual([fromText.calibFormat, fromText.calibration.tokens], ["stories", fromJsonl.calibration.tokens]);
  assert.deepEqual(await readFile(join(dir, "w-jsonl", "mask_compressed.npz")), await readFile(join(dir, "w-text", "mask_compressed.npz")), "same windows, same Wanda mask");
  // a bad line is named, with its number, and the run fails
  await writeFile(join(dir, "bad.jsonl"), `${JSON.stringify({ text: docs[0] })}\n{"txt": 1}\n`);
  await assert.rejects(cli(model, ...common, "--calib", join(dir, "bad.jsonl"), "--out", join(dir, "w-bad")), (err: { stderr: string }) => /line 2: expected a JSON object with a string `text` or a `messages` array/.test(err.stderr));
  // eval: --text-format, and --format as its older name, agree
  const evalCli = (...args: string[]) => run(process.execPath, ["bin/maskforge.js", "eval", model, "--seq-len", "32", "--json", "--backend", "wasm", ...args], { maxBuffer: 1 << 24 });
  const a = JSON.parse((await evalCli("--text", jsonl, "--text-format", "jsonl")).stdout);
  const b = JSON.parse((await evalCli("--text", join(dir, "calib.txt"), "--format", "stories")).stdout);
  assert.equal(a.documents, docs.length);
  assert.equal(a.perplexity, b.perplexity);
  assert.equal(a.tokens, b.tokens);
});
