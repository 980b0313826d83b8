// `maskforge prune --layer-by-layer`: the streamed one-shot path writes the folder any prune writes (loadable, masks
// in mask_compressed.npz, prune_report.json with names only), with the masks the in-memory path picks, and refuses
// what it cannot run before writing anything.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { access, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importLlama2c } from "../../src/checkpoint/llama2c.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { decodeMaskNpz } from "../../src/checkpoint/mask-npz.js";
import { verifyNMMask, zerosMatchMask } from "../../src/maskllm/mask/verify.js";
import { runPrune, type PruneCliOptions } from "../../src/cli/commands/prune.js";
import { DEFAULT_IGNORE, DEFAULT_TARGETS } from "../../src/maskllm/prune/select-layers.js";
import { PruneInputError } from "../../src/maskllm/prune/errors.js";
import { checkLoadable } from "../helpers/loadable.js";

const shared = join(process.cwd(), "..", "shared");
let dir: string;
let model: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "prune-lbl-"));
  model = join(dir, "stories260K");
  await importLlama2c({ modelPath: join(shared, "models/stories260K/stories260K.bin"), tokenizerPath: join(shared, "models/stories260K/tok512.model"), outDir: model });
  const text = await readFile(join(shared, "data/tinystories/train-sample-2MiB.txt"), "utf8");
  await writeFile(join(dir, "calib.txt"), text.split("<|endoftext|>").slice(0, 24).join("<|endoftext|>") + "<|endoftext|>");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** runPrune with its JSON line kept off the test's output. */
async function prune(modelDir: string, o: PruneCliOptions) {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await runPrune(modelDir, o);
  } finally {
    process.stdout.write = write;
  }
}

const options = (method: string, out: string, extra: Partial<PruneCliOptions> = {}): PruneCliOptions => ({
  method, update: false, pattern: "2:4", calib: join(dir, "calib.txt"), calibFormat: "stories", calibSamples: 8, seqLen: 64, seed: 0, out, json: true,
  targets: [...DEFAULT_TARGETS], ignore: [...DEFAULT_IGNORE], batchSize: 4, backend: "wasm", prior: "sparsegpt", steps: 1, microBatches: 1, ...extra,
});

async function masksOf(out: string, names: Map<string, number>): Promise<Map<string, Uint8Array>> {
  return decodeMaskNpz(await readFile(join(out, "mask_compressed.npz")), names, { require: true });
}

for (const [method, minAgree] of [["magnitude", 1], ["wanda", 0.999], ["sparsegpt", 0.995]] as const)
  test(`prune --layer-by-layer --method ${method} writes a loadable folder whose masks match the in-memory prune's (≥ ${minAgree * 100}%)`, async () => {
    const lbl = join(dir, `${method}-lbl`), mem = join(dir, `${method}-mem`);
    const report = await prune(model, options(method, lbl, { layerByLayer: true, threads: 2 }));
    const ref = await prune(model, options(method, mem));
    assert.equal(report.allVerified, true);
    assert.equal(ref.allVerified, true);
    assert.equal(report.layers.length, 35);
    const numel = new Map(report.layers.map((l) => [l.name, l.shape[0] * l.shape[1]]));
    const got = await masksOf(lbl, numel), want = await masksOf(mem, numel);
    const src = await CheckpointReader.open(model), dst = await CheckpointReader.open(lbl);
    try {
      await checkLoadable(lbl, { names: src.names, srcDir: model, machinePaths: [dir] });
      let agree = 0, total = 0;
      for (const name of src.names) {
        const b = await dst.readFloat32(name);
        const mask = got.get(name);
        if (!mask) {
          assert.deepEqual(b.values, (await src.readFloat32(name)).values, `${name} must be untouched`);
          continue;
        }
        const [rows, cols] = b.shape;
        assert.ok(verifyNMMask(mask, rows, cols, { n: 2, m: 4 }).ok, name);
        assert.ok(zerosMatchMask(b.values, mask), `${name}: the written zeros are the npz's mask`);
        const w = want.get(name)!;
        for (let i = 0; i < mask.length; i++) agree += mask[i] === w[i] ? 1 : 0;
        total += mask.length;
      }
      assert.ok(agree / total >= minAgree, `${method}: ${((agree / total) * 100).toFixed(3)}% of mask entries agree`);
    } finally {
      await src.close();
      await dst.close();
    }
    const saved = JSON.parse(await readFile(join(lbl, "prune_report.json"), "utf8"));
    assert.equal(saved.layerByLayer, true);
    assert.equal(saved.weights_updated, false);
    assert.equal(saved.model, "stories260K");
    assert.equal(saved.calibFile, "calib.txt");
  });

test("prune --layer-by-layer refuses what it cannot run before writing anything", async () => {
  const out = join(dir, "refused");
  await assert.rejects(prune(model, options("maskllm", out, { layerByLayer: true })), (e: unknown) => e instanceof PruneInputError && /layer-by-layer/.test(e.message));
  // the pruner's refusal comes through as it is, naming no file of the half-made folder
  await assert.rejects(prune(model, options("wanda", out, { layerByLayer: true, targets: ["q_prj"] })), (e: unknown) => e instanceof PruneInputError && /q_prj/.test(e.message) && !/partial/.test(e.message));
  await assert.rejects(access(out));
});
