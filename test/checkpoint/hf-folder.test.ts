// config.json parsing, export → load round trips, config-vs-checkpoint checks, llama2.c conversion details,
// SentencePiece → tokenizer.json, and the text protocol.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../src/maskllm/backend.js";
import { CheckpointError } from "../../src/checkpoint/errors.js";
import { parseHfConfig, toHfConfig } from "../../src/checkpoint/hf-config.js";
import { exportModelDir } from "../../src/checkpoint/export.js";
import { loadWeights, loadModelDir } from "../../src/checkpoint/load.js";
import { parseLlama2c, permuteInterleavedToHalves } from "../../src/checkpoint/llama2c.js";
import { deriveMerges, parseLlama2cTokenizer, parseSentencePieceModel, sentencePieceToTokenizerJson } from "../../src/checkpoint/sentencepiece.js";
import { makeTokenizer } from "../../src/checkpoint/tokenizer.js";
import { evalWindows, readDocuments, sampleWindows, tokenizeStream } from "../../src/checkpoint/text-dataset.js";
import { writeSafetensors } from "../../src/checkpoint/safetensors/writer.js";
import { forward, disposeModel } from "../../src/maskllm/llama/model.js";
import { bytesToFloat32, float32ToBytes } from "../../src/checkpoint/safetensors/dtypes.js";
import { TINY_HUB_CONFIGS, tinyFamilyModel, tinyLlama } from "../helpers/tiny-llama.js";

await initBackend("wasm");
const stories = resolve(process.cwd(), "../shared/models/stories260K");
const isCode = (code: string, says?: RegExp) => (e: unknown) => e instanceof CheckpointError && e.code === code && (!says || says.test(e.message));

const llama = {
  architectures: ["LlamaForCausalLM"], vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 8, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 500000, max_position_embeddings: 512, tie_word_embeddings: false,
};

test("config.json → LlamaConfig for Llama, Mistral, Qwen2; everything else refused clearly", () => {
  const c = parseHfConfig(llama);
  assert.equal(c.headDim, 8);
  assert.equal(c.numKeyValueHeads, 2);
  assert.equal(c.ropeTheta, 500000);
  assert.equal(c.attentionBias, false);
  assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
  assert.equal(parseHfConfig({ ...llama, architectures: ["Qwen2ForCausalLM"] }).attentionBias, true);
  assert.equal(parseHfConfig({ ...llama, architectures: ["MistralForCausalLM"], num_key_value_heads: undefined }).numKeyValueHeads, 8);
  assert.equal(parseHfConfig({ ...llama, head_dim: 16 }).headDim, 16);
  assert.throws(() => parseHfConfig({ ...llama, architectures: ["GPT2LMHeadModel"] }), isCode("UNSUPPORTED_ARCHITECTURE", /"GPT2LMHeadModel".*LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/));
  assert.throws(() => parseHfConfig({ ...llama, rope_scaling: { type: "longrope", factor: 2 } }), isCode("BAD_CONFIG", /rope_scaling type "longrope" is not supported; supported rope_type: default, linear, dynamic, llama3, yarn/));
  assert.throws(() => parseHfConfig({ ...llama, num_key_value_heads: 3 }), isCode("BAD_CONFIG", /multiple of num_key_value_heads/));
  assert.throws(() => parseHfConfig({ ...llama, hidden_act: "gelu" }), isCode("BAD_CONFIG", /hidden_act/));
  assert.throws(() => parseHfConfig({ ...llama, vocab_size: -1 }), isCode("BAD_CONFIG", /vocab_size must be a positive integer/));
  assert.throws(() => parseHfConfig([]), isCode("BAD_CONFIG"));
});

test("config.json: rope_scaling (rope_type or type), Qwen3, sliding windows, token id lists; refusals name the field", () => {
  const l3 = { ...llama, rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 }, eos_token_id: [128001, 128008, 128009], bos_token_id: 128000 };
  const c = parseHfConfig(l3);
  assert.deepEqual(c.ropeScaling, { ropeType: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.deepEqual(c.eosTokenId, [128001, 128008, 128009]);
  assert.equal(c.bosTokenId, 128000);
  assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
  assert.deepEqual(parseHfConfig({ ...llama, rope_scaling: { type: "linear", factor: 2 } }).ropeScaling, { ropeType: "linear", factor: 2 });
  assert.deepEqual(parseHfConfig({ ...llama, rope_scaling: { type: "dynamic", factor: 2 } }).ropeScaling, { ropeType: "dynamic", factor: 2 });
  assert.equal(parseHfConfig({ ...llama, rope_scaling: { rope_type: "default" } }).ropeScaling, undefined);
  const yarn = parseHfConfig({ ...llama, architectures: ["Qwen2ForCausalLM"], rope_scaling: { factor: 4.0, original_max_position_embeddings: 32768, type: "yarn" } });
  assert.deepEqual(yarn.ropeScaling, { ropeType: "yarn", factor: 4, originalMaxPositionEmbeddings: 32768 });
  assert.deepEqual(parseHfConfig(toHfConfig(yarn)), yarn);
  assert.throws(() => parseHfConfig({ ...llama, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }), isCode("BAD_CONFIG", /rope_scaling \(llama3\) is missing original_max_position_embeddings/));
  assert.throws(() => parseHfConfig({ ...llama, rope_scaling: { rope_type: "linear" } }), isCode("BAD_CONFIG", /missing factor/));
  assert.throws(() => parseHfConfig({ ...llama, rope_scaling: { factor: 2 } }), isCode("BAD_CONFIG", /rope_scaling type null is not supported/));
  assert.throws(() => parseHfConfig({ ...llama, partial_rotary_factor: 0.5 }), isCode("BAD_CONFIG", /partial_rotary_factor/));
  assert.throws(() => parseHfConfig({ ...llama, eos_token_id: [1, "x"] }), isCode("BAD_CONFIG", /eos_token_id must be a token id or a list/));
  // Qwen3: q/k norms, explicit head_dim ≠ hidden/heads, no bias unless attention_bias
  const q3 = parseHfConfig({ ...llama, architectures: ["Qwen3ForCausalLM"], head_dim: 16, use_sliding_window: false, sliding_window: null, max_window_layers: 2 });
  assert.equal(q3.qkNorm, true);
  assert.equal(q3.headDim, 16);
  assert.equal(q3.attentionBias, false);
  assert.equal(q3.slidingWindow, undefined);
  assert.deepEqual(parseHfConfig(toHfConfig(q3)), q3);
  assert.equal(parseHfConfig({ ...llama, architectures: ["Qwen3ForCausalLM"], head_dim: undefined }).headDim, 128, "Qwen3Config's default");
  // sliding windows as transformers applies them
  const mistral = { ...llama, architectures: ["MistralForCausalLM"] };
  assert.deepEqual(parseHfConfig({ ...mistral, sliding_window: 256 }).slidingWindow, { size: 256, fromLayer: 0 });
  assert.deepEqual(parseHfConfig(mistral).slidingWindow, { size: 4096, fromLayer: 0 }, "MistralConfig's default 4096");
  assert.equal(parseHfConfig({ ...mistral, sliding_window: null }).slidingWindow, undefined);
  const qwen2 = { ...llama, architectures: ["Qwen2ForCausalLM"], sliding_window: 128, max_window_layers: 1 };
  assert.equal(parseHfConfig({ ...qwen2, use_sliding_window: false }).slidingWindow, undefined, "Qwen2 ignores sliding_window unless use_sliding_window");
  assert.deepEqual(parseHfConfig({ ...qwen2, use_sliding_window: true }).slidingWindow, { size: 128, fromLayer: 1 });
  assert.equal(parseHfConfig({ ...qwen2, use_sliding_window: true, max_window_layers: 2 }).slidingWindow, undefined, "no layer at or past max_window_layers");
  const sw = parseHfConfig({ ...qwen2, use_sliding_window: true });
  assert.deepEqual(parseHfConfig(toHfConfig(sw)), sw);
});

test("export → load round trip (F32 exact, sharded), and BF16 export within bf16 precision", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "hf-rt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const m = tinyLlama({ seed: 21, config: { tieWordEmbeddings: false, architecture: "Qwen2ForCausalLM", attentionBias: true } });
  const files = await exportModelDir(m, join(dir, "f32"), { maxShardBytes: 16_000 });
  assert.ok(files.includes("model.safetensors.index.json"));
  const back = await loadWeights(join(dir, "f32"), JSON.parse(await readFile(join(dir, "f32/config.json"), "utf8")));
  assert.deepEqual(back.config, m.config);
  for (const [n, w] of m.weights) assert.deepEqual(back.weights.get(n)!.dataSync(), w.dataSync(), n);
  await exportModelDir(m, join(dir, "bf16"), { dtype: "BF16" });
  const b16 = await loadWeights(join(dir, "bf16"), JSON.parse(await readFile(join(dir, "bf16/config.json"), "utf8")));
  const ids = tf.tensor2d([[1, 2, 3, 4]], undefined, "int32");
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(forward(m, ids), forward(b16, ids)))).dataSync()[0]);
  assert.ok(d < 0.1, `bf16 logits within ${d}`);
  await assert.rejects(exportModelDir(m, join(dir, "f32")), isCode("BAD_ARGUMENT", /already exists/));
  [m, back, b16].forEach(disposeModel);
  ids.dispose();
});

test("bf16 and f16 sharded Hub folders (safetensors index) of each family load to the weights rounded to that dtype", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "hf-half-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const family of ["llama-3.2", "qwen3", "mistral"] as const)
    for (const dtype of ["BF16", "F16"] as const) {
      const m = tinyFamilyModel(family, 12);
      const out = join(dir, `${family}-${dtype}`);
      const files = await exportModelDir(m, out, { dtype, maxShardBytes: 8_000 });
      assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 2 && files.includes("model.safetensors.index.json"), `${family} ${dtype}: ${files.join(", ")}`);
      // config.json as the Hub has it, with the dtype it ships in
      await writeFile(join(out, "config.json"), JSON.stringify({ ...TINY_HUB_CONFIGS[family], torch_dtype: dtype === "BF16" ? "bfloat16" : "float16" }));
      const back = await loadWeights(out, JSON.parse(await readFile(join(out, "config.json"), "utf8")));
      assert.deepEqual(back.config, m.config);
      for (const [n, w] of m.weights) {
        const want = bytesToFloat32(float32ToBytes(w.dataSync() as Float32Array, dtype), dtype);
        assert.deepEqual(back.weights.get(n)!.dataSync(), want, `${family} ${dtype} ${n}`);
      }
      [m, back].forEach(disposeModel);
    }
});

test("a checkpoint missing a tensor config.json requires, or with a wrong shape, is refused by name", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "hf-miss-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cfg = toHfConfig(tinyLlama({ layers: 1 }).config);
  await writeFile(join(dir, "config.json"), JSON.stringify(cfg));
  await writeSafetensors(join(dir, "model.safetensors"), [{ name: "model.embed_tokens.weight", dtype: "F32", shape: [64, 32] }], () => new Float32Array(64 * 32));
  await assert.rejects(loadWeights(dir, cfg), (e: unknown) => isCode("MISSING_TENSOR", /requires it/)(e) && (e as CheckpointError).tensor === "model.norm.weight");
  await writeSafetensors(join(dir, "model.safetensors"), [{ name: "model.embed_tokens.weight", dtype: "F32", shape: [32, 64] }], () => new Float32Array(64 * 32));
  await assert.rejects(loadWeights(dir, cfg), isCode("WRONG_SHAPE", /\[32,64\], config\.json implies \[64,32\]/));
  await writeFile(join(dir, "config.json"), "{");
  await assert.rejects(loadModelDir(dir), isCode("BAD_CONFIG", /not valid JSON/));
});

test("llama2.c: q/k row permutation turns interleaved RoPE into rotate-half RoPE", () => {
  const heads = 2, hd = 6, cols = 3;
  const w = Float32Array.from({ length: heads * hd * cols }, (_, i) => Math.sin(i * 1.7));
  const x = [0.3, -1.2, 0.8];
  const proj = (m: Float32Array) => Array.from({ length: heads * hd }, (_, r) => x.reduce((a, xv, c) => a + xv * m[r * cols + c], 0));
  const pos = 5;
  const ang = (i: number) => pos * Math.pow(10000, -(2 * i) / hd);
  const inter = proj(w);
  const halves = proj(permuteInterleavedToHalves(w, heads, hd, cols));
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++) {
      // llama2.c: pairs (2i, 2i+1); HF: (i, i + hd/2)
      const [a, b] = [inter[h * hd + 2 * i], inter[h * hd + 2 * i + 1]];
      const [c, d] = [halves[h * hd + i], halves[h * hd + i + hd / 2]];
      assert.ok(Math.abs(a * Math.cos(ang(i)) - b * Math.sin(ang(i)) - (c * Math.cos(ang(i)) - d * Math.sin(ang(i)))) < 1e-6);
      assert.ok(Math.abs(a * Math.sin(ang(i)) + b * Math.cos(ang(i)) - (d * Math.cos(ang(i)) + c * Math.sin(ang(i)))) < 1e-6);
    }
});

test("llama2.c: a bad checkpoint is refused clearly", async () => {
  const good = await readFile(join(stories, "stories260K.bin"));
  const ck = parseLlama2c(good);
  assert.equal(ck.config.numKeyValueHeads, 4);
  assert.equal(ck.tensors.size, 2 + 9 * 5, "tied: no lm_head");
  assert.throws(() => parseLlama2c(good.subarray(0, 20)), isCode("BAD_LLAMA2C", /28-byte header/));
  assert.throws(() => parseLlama2c(good.subarray(0, good.byteLength - 4)), isCode("BAD_LLAMA2C", /the header's sizes need/));
  const magic = Buffer.from(good);
  magic.write("ak42", 0);
  assert.throws(() => parseLlama2c(magic), isCode("BAD_LLAMA2C", /not plausible/));
});

test("SentencePiece .model and llama2.c tokenizer.bin convert to the same tokenizer.json; tokenizer behaves like Llama's", async () => {
  const spm = parseSentencePieceModel(await readFile(join(stories, "tok512.model")));
  const bin = parseLlama2cTokenizer(await readFile(join(stories, "tok512.bin")), 512);
  assert.equal(spm.modelType, 2);
  assert.deepEqual(bin.pieces, spm.pieces);
  const files = sentencePieceToTokenizerJson(spm);
  assert.deepEqual(sentencePieceToTokenizerJson(bin), files);
  const tok = makeTokenizer(files.tokenizerJson, files.tokenizerConfig);
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  const text = "Once upon a time, Lily saw a big ball. Zoë ate 3 crêpes ☃";
  const ids = tok.encode(text);
  assert.equal(tok.decode(ids), text, "byte fallback makes every string round-trip");
  assert.ok(ids.some((i) => i >= 3 && i < 259), "characters outside the vocabulary go through byte pieces");
  assert.deepEqual(tok.encode("Once").slice(0, 1), [403], "the ▁ prefix is added as SentencePiece's add_dummy_prefix does");
  // merges follow piece scores, highest first
  const merges = deriveMerges([{ piece: "a", score: 0, type: 1 }, { piece: "b", score: 0, type: 1 }, { piece: "ab", score: -2, type: 1 }, { piece: "ba", score: -1, type: 1 }]);
  assert.deepEqual(merges, [["b", "a"], ["a", "b"]]);
  assert.throws(() => parseSentencePieceModel(new Uint8Array([0x0a, 0x50, 1])), isCode("BAD_TOKENIZER", /truncated/));
  assert.throws(() => sentencePieceToTokenizerJson({ ...spm, modelType: 1 }), isCode("BAD_TOKENIZER", /not BPE/));
});

test("text protocol: documents, BOS per document, windows", () => {
  assert.deepEqual(readDocuments("a\n\0 b \0\n\0c", "stories"), ["a", "b"], "the piece after the last NUL is cut off");
  assert.deepEqual(readDocuments("a<|endoftext|>b<|endoftext|>\n", "stories"), ["a", "b"]);
  assert.deepEqual(readDocuments("x<|endoftext|>y\0z\0", "stories"), ["x", "y", "z"]);
  assert.deepEqual(readDocuments("no separator at all", "stories"), []);
  assert.deepEqual(readDocuments(" = T = \n text\n", "wikitext"), [" = T = \n text\n"]);
  const tok = { encode: (s: string) => Array.from(s, (c) => c.charCodeAt(0)) };
  assert.deepEqual(Array.from(tokenizeStream(tok, ["ab", "c"], { bos: 1 })), [1, 97, 98, 1, 99]);
  const toks = Int32Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(evalWindows(toks, 4).map((w) => Array.from(w)), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  const s1 = sampleWindows(toks, 5, 3, 42).map((w) => Array.from(w));
  assert.deepEqual(sampleWindows(toks, 5, 3, 42).map((w) => Array.from(w)), s1);
  assert.notDeepEqual(sampleWindows(toks, 5, 3, 43).map((w) => Array.from(w)), s1);
  assert.ok(s1.every((w) => w.length === 3 && w[2] - w[0] === 2));
});

test("import writes nothing when the tokenizer does not fit the model", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "hf-imp-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { importLlama2c } = await import("../../src/checkpoint/llama2c.js");
  await writeFile(join(dir, "tok.bin"), Buffer.from([16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 97]));
  await assert.rejects(importLlama2c({ modelPath: join(stories, "stories260K.bin"), tokenizerPath: join(dir, "tok.bin"), outDir: join(dir, "out") }), isCode("BAD_TOKENIZER", /holds 1 tokens, the model expects 512/));
  assert.deepEqual(await readdir(dir), ["tok.bin"]);
});
