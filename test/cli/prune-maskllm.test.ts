// `maskforge prune --method maskllm` end to end on stories260K with a tiny budget: the folder holds the sparse
// weights, mask_compressed.npz and masks/mask_logits.safetensors, and both artifacts work as the prior of a new run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { initBackend } from "../../src/maskllm/backend.js";
import { importLlama2c } from "../../src/checkpoint/llama2c.js";
import { runPrune } from "../../src/cli/commands/prune.js";
import { decodeMaskNpz } from "../../src/checkpoint/mask-npz.js";
import { decodeMaskLogits } from "../../src/checkpoint/mask-logits.js";
import { SafetensorsReader } from "../../src/checkpoint/safetensors/reader.js";
import { verifyNMMask } from "../../src/maskllm/mask/verify.js";
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../src/maskllm/prune/select-layers.js";

const shared = resolve(process.cwd(), "../shared");
let tmp: string;
let modelDir: string;
let calib: string;

before(async () => {
  await initBackend("wasm");
  tmp = await mkdtemp(join(tmpdir(), "maskforge-maskllm-cli-"));
  modelDir = join(tmp, "model");
  const m = join(shared, "models/stories260K");
  await importLlama2c({ modelPath: join(m, "stories260K.bin"), tokenizerPath: join(m, "tok512.model"), outDir: modelDir });
  calib = join(tmp, "calib.txt");
  await writeFile(calib, (await readFile(join(shared, "data/tinystories/train-sample-2MiB.txt"), "utf8")).slice(0, 20000));
});
after(() => rm(tmp, { recursive: true, force: true }));

const base = (out: string, extra: Record<string, unknown>) => ({
  method: "maskllm", update: true, pattern: "2:4", calib, calibFormat: "stories" as const, calibSamples: 4, seqLen: 32, seed: 0, out, json: true,
  targets: [...DEFAULT_TARGETS], ignore: [...DEFAULT_IGNORE], batchSize: 2, backend: "wasm" as const, prior: "magnitude", steps: 2, microBatches: 1, ...extra,
});

test("prune --method maskllm writes sparse weights and both mask artifacts; they seed new runs", async () => {
  const out = join(tmp, "out1");
  // two micro-batches on two threads; the resume below runs on one thread
  const report = (await runPrune(modelDir, base(out, { snapshotEvery: 1, microBatches: 2, threads: 2 }))) as unknown as Record<string, unknown>;
  assert.equal(report.allVerified, true);
  assert.equal(report.threads, 2);
  assert.ok((await stat(`${out}.snapshot`)).size > 0);
  const reader = await SafetensorsReader.open(join(out, "model.safetensors"));
  assert.deepEqual(reader.metadata, { format: "pt" }, "the writer jobs use");
  const names = reader.tensors.map((t) => t.name).filter((n) => n.endsWith("_proj.weight"));
  const numel = new Map(reader.tensors.filter((t) => names.includes(t.name)).map((t) => [t.name, t.shape[0] * t.shape[1]] as const));
  const masks = decodeMaskNpz(new Uint8Array(await readFile(join(out, "mask_compressed.npz"))), numel, { require: true });
  for (const e of reader.tensors.filter((t) => names.includes(t.name))) {
    const m = masks.get(e.name)!;
    assert.ok(verifyNMMask(m, e.shape[0], e.shape[1], { n: 2, m: 4 }).ok, e.name);
    const w = (await reader.readFloat32(e.name)).values;
    for (let i = 0; i < w.length; i++) if (m[i] === 0) assert.equal(w[i], 0);
  }
  await reader.close();
  const logits = await decodeMaskLogits(new Uint8Array(await readFile(join(out, "masks", "mask_logits.safetensors"))));
  assert.equal(logits.meta.pattern, "2:4");
  assert.equal(logits.meta.parentMask, "magnitude");
  assert.match(logits.meta.baseSha256 ?? "", /^[0-9a-f]{64}$/);
  assert.equal(logits.logits.size, names.length);
  // transfer: each artifact is a valid prior; a resume of the finished snapshot reproduces the mask exactly
  for (const [i, prior] of [join(out, "mask_compressed.npz"), join(out, "masks", "mask_logits.safetensors")].entries()) {
    const r = (await runPrune(modelDir, base(join(tmp, `out-prior-${i}`), { prior, steps: 1 }))) as unknown as Record<string, unknown>;
    assert.equal(r.allVerified, true);
  }
  const resumed = join(tmp, "out-resumed");
  await runPrune(modelDir, base(resumed, { resume: `${out}.snapshot`, microBatches: 2, threads: 1 }));
  assert.deepEqual(await readFile(join(resumed, "mask_compressed.npz")), await readFile(join(out, "mask_compressed.npz")));
  // what the folders record of file arguments (calibration text, prior, snapshot) is their names, not this machine's paths
  for (const dir of [out, join(tmp, "out-prior-0"), resumed]) {
    const written = (await readFile(join(dir, "prune_report.json"), "utf8")) + new TextDecoder().decode(await readFile(join(dir, "masks", "mask_logits.safetensors")));
    assert.ok(!written.includes(tmp), `${dir} records a path of this machine`);
  }
  await assert.rejects(runPrune(modelDir, base(join(tmp, "bad"), { prior: join(tmp, "missing.npz") })), /neither|readable/);
});
