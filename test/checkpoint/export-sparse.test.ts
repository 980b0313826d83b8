// The folder writeSparseFolder writes (through `maskforge prune`, as jobs write theirs) loads everywhere: for every
// method on stories260K imported from llama2.c, a loader that follows vLLM's and transformers' rules finds exactly
// the model's tensors (the learned logits sit in masks/, out of its sight), every safetensors file says format "pt",
// tokenizer.model came along, torch_dtype is the stored dtype (a bf16 source stays bf16), a sharded export has an
// index naming every shard, no file names a path of this machine, and weights_updated says whether dense × mask is
// the model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testConfig } from "../helpers/config.js";
import { checkLoadable, filesUnder, rawHeader } from "../helpers/loadable.js";
import { initBackend } from "../../src/maskllm/backend.js";
import { importLlama2c } from "../../src/checkpoint/llama2c.js";
import { decodeMaskLogits, MASK_LOGITS_FILE } from "../../src/checkpoint/mask-logits.js";
import { MASKS_DIR } from "../../src/checkpoint/export-sparse.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { writeCheckpoint, type TensorSpec } from "../../src/checkpoint/safetensors/writer.js";
import { runPrune, type PruneCliOptions } from "../../src/cli/commands/prune.js";
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../src/maskllm/prune/select-layers.js";

const shared = testConfig().sharedDir;
let tmp: string;
let f32: string;
let bf16: string;
let calib: string;
let names: string[];

/** The imported folder re-stored in bf16, with torch_dtype "bfloat16", as a bf16 Hub checkpoint is. */
async function toBf16(src: string, out: string): Promise<void> {
  await mkdir(out);
  const r = await CheckpointReader.open(src);
  try {
    const specs: TensorSpec[] = [];
    for (const n of r.names) specs.push({ name: n, dtype: "BF16", shape: (await r.entry(n)).shape });
    await writeCheckpoint(out, specs, async (s) => (await r.readFloat32(s.name)).values, { metadata: { format: "pt" } });
  } finally {
    await r.close();
  }
  const config = JSON.parse(await readFile(join(src, "config.json"), "utf8"));
  await writeFile(join(out, "config.json"), JSON.stringify({ ...config, torch_dtype: "bfloat16" }, null, 2) + "\n");
  for (const f of await readdir(src)) if (f.startsWith("tokenizer") || f === "generation_config.json") await copyFile(join(src, f), join(out, f));
}

before(async () => {
  await initBackend("wasm");
  tmp = await mkdtemp(join(tmpdir(), "maskforge-loadable-"));
  f32 = join(tmp, "stories260K");
  const m = join(shared, "models/stories260K");
  await importLlama2c({ modelPath: join(m, "stories260K.bin"), tokenizerPath: join(m, "tok512.model"), outDir: f32 });
  bf16 = join(tmp, "stories260K-bf16");
  await toBf16(f32, bf16);
  calib = join(tmp, "calib.txt");
  await writeFile(calib, (await readFile(join(shared, "data/tinystories/train-sample-2MiB.txt"), "utf8")).slice(0, 20000));
  const r = await CheckpointReader.open(f32);
  names = [...r.names];
  await r.close();
});
after(() => rm(tmp, { recursive: true, force: true }));

const opts = (out: string, o: Partial<PruneCliOptions>): PruneCliOptions => ({
  method: "magnitude", update: true, pattern: "2:4", calib, calibFormat: "stories", calibSamples: 4, seqLen: 32, seed: 0, out, json: true,
  targets: [...DEFAULT_TARGETS], ignore: [...DEFAULT_IGNORE], batchSize: 2, backend: "wasm", prior: "magnitude", steps: 2, microBatches: 1, ...o,
});

async function prune(src: string, name: string, o: Partial<PruneCliOptions>): Promise<{ out: string; report: Record<string, unknown> }> {
  const out = join(tmp, name);
  await runPrune(src, opts(out, o));
  await checkLoadable(out, { names, srcDir: src, machinePaths: [tmp, calib] });
  return { out, report: JSON.parse(await readFile(join(out, "prune_report.json"), "utf8")) };
}

test("the llama2.c import writes tokenizer.model from the given .model, and a config whose torch_dtype is the stored dtype", async () => {
  assert.deepEqual(await readFile(join(f32, "tokenizer.model")), await readFile(join(shared, "models/stories260K/tok512.model")));
  assert.equal(JSON.parse(await readFile(join(f32, "tokenizer_config.json"), "utf8")).tokenizer_class, "LlamaTokenizer", "use_fast=False gets the slow tokenizer");
  await checkLoadable(f32, { names, srcDir: f32, machinePaths: [tmp] });
  // a llama2.c tokenizer.bin has no ModelProto to copy
  const fromBin = join(tmp, "from-bin");
  const r = await importLlama2c({ modelPath: join(shared, "models/stories260K/stories260K.bin"), tokenizerPath: join(shared, "models/stories260K/tok512.bin"), outDir: fromBin });
  assert.ok(!r.files.includes("tokenizer.model"));
  assert.ok(!(await readdir(fromBin)).includes("tokenizer.model"));
});

for (const [method, update] of [["magnitude", false], ["wanda", false], ["sparsegpt", false], ["sparsegpt", true]] as const)
  test(`prune --method ${method}${method === "sparsegpt" ? (update ? " (with update)" : " --no-update") : ""}: the folder holds only what a loader loads`, async () => {
    const { out, report } = await prune(f32, `${method}-${update}`, { method, update });
    assert.equal(report.weights_updated, update, "weights_updated: whether dense × mask is the written model");
    assert.deepEqual(await filesUnder(out), [
      "config.json", "generation_config.json", "mask_compressed.npz", "model.safetensors", "prune_report.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
    ]);
  });

test("prune --method maskllm: the learned logits sit in masks/, still a valid prior, still format pt", async () => {
  const { out, report } = await prune(f32, "maskllm", { method: "maskllm" });
  assert.equal(report.weights_updated, false);
  assert.ok((await readdir(out)).every((f) => !f.endsWith(".safetensors") || f === "model.safetensors"), "no other safetensors file beside the model's");
  const logitsPath = join(out, MASKS_DIR, MASK_LOGITS_FILE);
  const header = await rawHeader(logitsPath);
  assert.equal(header.metadata?.format, "pt");
  assert.equal(header.metadata?.maskforge, "mask-logits");
  const logits = await decodeMaskLogits(new Uint8Array(await readFile(logitsPath)));
  assert.equal(logits.logits.size, 35);
  assert.ok(!JSON.stringify(logits.meta).includes(tmp), "the hyperparameters name files, not paths");
  const again = await prune(f32, "maskllm-from-logits", { method: "maskllm", prior: logitsPath, steps: 1 });
  assert.equal(again.report.prior, MASK_LOGITS_FILE);
});

test("a bf16 source gives a bf16 export (torch_dtype bfloat16), SparseGPT-updated weights included", async () => {
  const { out, report } = await prune(bf16, "bf16-sparsegpt", { method: "sparsegpt", update: true });
  assert.equal(report.weights_updated, true);
  assert.equal(JSON.parse(await readFile(join(out, "config.json"), "utf8")).torch_dtype, "bfloat16");
});

test("a sharded export has model.safetensors.index.json naming every shard, and only those", async () => {
  const { out } = await prune(f32, "sharded", { method: "maskllm", maxShardBytes: 200_000 });
  const top = await readdir(out);
  const shards = top.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  assert.ok(shards.length > 1, `${shards.length} shards`);
  assert.ok(top.includes("model.safetensors.index.json") && !top.includes("model.safetensors"));
  const index = JSON.parse(await readFile(join(out, "model.safetensors.index.json"), "utf8"));
  assert.deepEqual([...new Set(Object.values(index.weight_map))].sort(), shards.sort());
  assert.ok((await readdir(join(out, MASKS_DIR))).includes(MASK_LOGITS_FILE));
});
