// The real stories260K checkpoint end to end: llama2.c import → HF folder → load → greedy text and perplexity.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { importLlama2c } from "../../../src/checkpoint/llama2c.js";
import { loadModelDir } from "../../../src/checkpoint/load.js";
import { evalWindows, readDocuments, tokenizeStream } from "../../../src/checkpoint/text-dataset.js";
import { perplexity } from "../../../src/maskllm/eval/perplexity.js";
import { disposeModel } from "../../../src/maskllm/llama/model.js";
import { greedyGenerate } from "../../../src/maskllm/llama/generate.js";

const shared = resolve(process.cwd(), "../shared");
const model = join(shared, "models/stories260K");
const EXPECTED =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high";

test("stories260K: import, generate word for word, perplexity on held-out windows", async (t) => {
  await initBackend("wasm");
  const dir = await mkdtemp(join(tmpdir(), "s260k-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, "hf");
  await importLlama2c({ modelPath: join(model, "stories260K.bin"), tokenizerPath: join(model, "tok512.model"), outDir: out });
  assert.deepEqual((await readdir(out)).sort(), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"]);
  const cfg = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
  assert.equal(cfg.num_key_value_heads, 4);
  assert.equal(cfg.tie_word_embeddings, true);

  const loaded = await loadModelDir(out);
  t.after(() => disposeModel(loaded.model));
  const ids = greedyGenerate(loaded.model, [1], 60, { eosId: 2 });
  assert.equal(loaded.tokenizer.decode(ids), EXPECTED);

  // the protocol on the first 16 windows (the full 958-window figure, ~3.78, comes from `maskforge eval`)
  const docs = readDocuments(await readFile(join(shared, "data/tinystories/heldout-data00-667.txt"), "utf8"), "stories");
  assert.equal(docs.length, 667);
  const windows = evalWindows(tokenizeStream(loaded.tokenizer, docs.slice(0, 20), { bos: 1 }), 256).slice(0, 16);
  assert.equal(windows.length, 16);
  perplexity(loaded.model, windows.slice(0, 1), { batchSize: 1 }); // builds the per-length RoPE/mask caches once
  const before = tf.memory().numTensors;
  const r = perplexity(loaded.model, windows, { batchSize: 8 });
  assert.equal(tf.memory().numTensors, before, "perplexity leaks no tensors");
  assert.equal(r.tokens, 16 * 255);
  assert.ok(r.perplexity > 3.3 && r.perplexity < 4.6, `perplexity ${r.perplexity} far from the ~3.8 an independent check gives`);
});

test("CLI: npx maskforge generate prints the story", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "s260k-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const run = promisify(execFile);
  const bin = resolve(process.cwd(), "bin/maskforge.js");
  await run(process.execPath, [bin, "import-llama2c", join(model, "stories260K.bin"), "--tokenizer", join(model, "tok512.bin"), "--out", dir]);
  const { stdout } = await run(process.execPath, [bin, "generate", dir, "--backend", "wasm"]);
  assert.equal(stdout.trim(), EXPECTED);
});
