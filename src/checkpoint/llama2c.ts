// llama2.c's legacy checkpoint (a 7-int32 header, then float32 arrays) → a Hugging Face LlamaForCausalLM folder.
// llama2.c rotates interleaved pairs (x[2i], x[2i+1]) while HF rotates halves, so q/k rows are permuted per head,
// as transformers' convert_llama_weights_to_hf does.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { LlamaConfig } from "../maskllm/llama/config.js";
import { CheckpointError } from "./errors.js";
import { toHfConfig } from "./hf-config.js";
import { parseLlama2cTokenizer, parseSentencePieceModel, sentencePieceToTokenizerJson } from "./sentencepiece.js";
import { writeSafetensors, type TensorSpec } from "./safetensors/writer.js";

export interface Llama2cCheckpoint {
  config: LlamaConfig;
  /** HF names → float32 values in HF layout */
  tensors: Map<string, { shape: number[]; values: Float32Array }>;
}

/** Rows of a [heads·headDim, in] matrix, per head, from interleaved-pair order to rotate-half order. */
export function permuteInterleavedToHalves(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < half; i++) {
        const src = (h * headDim + 2 * i + j) * cols;
        const dst = (h * headDim + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
  return out;
}

export function parseLlama2c(bytes: Uint8Array, file?: string): Llama2cCheckpoint {
  const fail = (m: string): never => {
    throw new CheckpointError("BAD_LLAMA2C", m, undefined, file);
  };
  if (bytes.byteLength < 28) fail("too short for llama2.c's 28-byte header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const vocab = Math.abs(vocabSigned);
  for (const [k, v] of Object.entries({ dim, hidden, layers, heads, kvHeads, vocab, seqLen }))
    if (!(v > 0 && v < 1 << 24)) fail(`header field ${k}=${v} is not plausible: this is not a llama2.c legacy checkpoint (version-1+ files start with magic 'ak42')`);
  if (dim % heads !== 0 || heads % kvHeads !== 0 || (dim / heads) % 2 !== 0) fail(`dim ${dim}, n_heads ${heads}, n_kv_heads ${kvHeads} do not fit together`);
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  const shared = vocabSigned > 0;
  const sizes = {
    tok: vocab * dim,
    rmsAtt: layers * dim,
    wq: layers * dim * dim,
    wk: layers * kvDim * dim,
    wv: layers * kvDim * dim,
    wo: layers * dim * dim,
    rmsFfn: layers * dim,
    w1: layers * hidden * dim,
    w2: layers * dim * hidden,
    w3: layers * hidden * dim,
    rmsFinal: dim,
    freqs: seqLen * headDim, // freq_cis_real and _imag, unused
  };
  const need = Object.values(sizes).reduce((a, b) => a + b, 0) + (shared ? 0 : vocab * dim);
  if (bytes.byteLength - 28 < need * 4) fail(`holds ${bytes.byteLength - 28} bytes of weights; the header's sizes need ${need * 4}`);
  if (bytes.byteLength - 28 > need * 4) fail(`has ${bytes.byteLength - 28 - need * 4} bytes more than the header's sizes explain`);
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 28, bytes.byteOffset + 28 + need * 4));
  let off = 0;
  const take = (n: number) => floats.subarray(off, (off += n));
  const tok = take(sizes.tok);
  const rmsAtt = take(sizes.rmsAtt);
  const wq = take(sizes.wq);
  const wk = take(sizes.wk);
  const wv = take(sizes.wv);
  const wo = take(sizes.wo);
  const rmsFfn = take(sizes.rmsFfn);
  const w1 = take(sizes.w1);
  const w2 = take(sizes.w2);
  const w3 = take(sizes.w3);
  const rmsFinal = take(sizes.rmsFinal);
  take(sizes.freqs);
  const cls = shared ? undefined : take(vocab * dim);

  const config: LlamaConfig = {
    architecture: "LlamaForCausalLM",
    vocabSize: vocab,
    hiddenSize: dim,
    intermediateSize: hidden,
    numHiddenLayers: layers,
    numAttentionHeads: heads,
    numKeyValueHeads: kvHeads,
    headDim,
    rmsNormEps: 1e-5, // llama2.c hard-codes 1e-5 in rmsnorm()
    ropeTheta: 10000, // and 10000 in its RoPE
    maxPositionEmbeddings: seqLen,
    tieWordEmbeddings: shared,
    attentionBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
  };
  const t = new Map<string, { shape: number[]; values: Float32Array }>();
  const put = (name: string, shape: number[], values: Float32Array) => t.set(name, { shape, values: values.slice() });
  put("model.embed_tokens.weight", [vocab, dim], tok);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    const slab = (a: Float32Array, n: number) => a.subarray(l * n, (l + 1) * n);
    put(`${p}input_layernorm.weight`, [dim], slab(rmsAtt, dim));
    t.set(`${p}self_attn.q_proj.weight`, { shape: [dim, dim], values: permuteInterleavedToHalves(slab(wq, dim * dim), heads, headDim, dim) });
    t.set(`${p}self_attn.k_proj.weight`, { shape: [kvDim, dim], values: permuteInterleavedToHalves(slab(wk, kvDim * dim), kvHeads, headDim, dim) });
    put(`${p}self_attn.v_proj.weight`, [kvDim, dim], slab(wv, kvDim * dim));
    put(`${p}self_attn.o_proj.weight`, [dim, dim], slab(wo, dim * dim));
    put(`${p}post_attention_layernorm.weight`, [dim], slab(rmsFfn, dim));
    put(`${p}mlp.gate_proj.weight`, [hidden, dim], slab(w1, hidden * dim));
    put(`${p}mlp.down_proj.weight`, [dim, hidden], slab(w2, dim * hidden));
    put(`${p}mlp.up_proj.weight`, [hidden, dim], slab(w3, hidden * dim));
  }
  put("model.norm.weight", [dim], rmsFinal);
  if (cls) put("lm_head.weight", [vocab, dim], cls);
  return { config, tensors: t };
}

export interface ImportOptions {
  modelPath: string;
  /** SentencePiece .model, or llama2.c's tokenizer.bin */
  tokenizerPath: string;
  outDir: string;
}

/**
 * Writes config.json, model.safetensors (F32, as config.json's torch_dtype says), tokenizer.json,
 * tokenizer_config.json, generation_config.json into outDir, and tokenizer.model when the tokenizer is a SentencePiece
 * .model (copied byte for byte: transformers' slow LlamaTokenizer and MaskLLM's own scripts read it). A llama2.c
 * tokenizer.bin gives no tokenizer.model: it lacks what a ModelProto holds besides the pieces (normalizer and trainer
 * settings), so a .model made from it could tokenize differently from the tokenizer.json.
 */
export async function importLlama2c(opts: ImportOptions): Promise<{ config: LlamaConfig; files: string[] }> {
  const ckpt = parseLlama2c(await readFile(opts.modelPath), opts.modelPath);
  const tokBytes = await readFile(opts.tokenizerPath);
  // a .model is a protobuf whose first field is a piece (tag 0x0a); tokenizer.bin starts with an int32 length
  const isModelProto = tokBytes[0] === 0x0a && !opts.tokenizerPath.endsWith(".bin");
  const spm = isModelProto ? parseSentencePieceModel(tokBytes) : parseLlama2cTokenizer(tokBytes, ckpt.config.vocabSize);
  if (spm.pieces.length !== ckpt.config.vocabSize)
    throw new CheckpointError("BAD_TOKENIZER", `has ${spm.pieces.length} pieces but the model's vocabulary is ${ckpt.config.vocabSize}`, undefined, opts.tokenizerPath);
  const tok = sentencePieceToTokenizerJson(spm, { modelMaxLength: ckpt.config.maxPositionEmbeddings });

  // write into a sibling temp folder and rename: a failed import leaves no half-written model folder
  const tmp = join(opts.outDir, "..", `.${basename(opts.outDir)}.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const specs: TensorSpec[] = [...ckpt.tensors].map(([name, t]) => ({ name, dtype: "F32", shape: t.shape }));
    await writeSafetensors(join(tmp, "model.safetensors"), specs, (s) => ckpt.tensors.get(s.name)!.values, { metadata: { format: "pt" } });
    const json = (o: unknown) => JSON.stringify(o, null, 2) + "\n";
    await writeFile(join(tmp, "config.json"), json(toHfConfig(ckpt.config)));
    await writeFile(join(tmp, "tokenizer.json"), json(tok.tokenizerJson));
    await writeFile(join(tmp, "tokenizer_config.json"), json(tok.tokenizerConfig));
    await writeFile(join(tmp, "generation_config.json"), json({ bos_token_id: 1, eos_token_id: 2, do_sample: false }));
    if (isModelProto) await writeFile(join(tmp, "tokenizer.model"), tokBytes);
    await mkdir(opts.outDir, { recursive: true });
    const files = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", ...(isModelProto ? ["tokenizer.model"] : [])];
    for (const f of files) await rename(join(tmp, f), join(opts.outDir, f));
    return { config: ckpt.config, files };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
