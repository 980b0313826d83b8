// Text ↔ token ids through @huggingface/tokenizers: Hugging Face's own pure-JS port of `tokenizers`, kept in step
// with tokenizer.json as the Hub writes it (BPE, byte fallback, normalizers, decoders), with no native code or
// network access, so it runs in the worker and the CLI alike; a tokenizer of our own would drift from the Hub's.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { CheckpointError } from "./errors.js";
import { parseSentencePieceModel, sentencePieceToTokenizerJson } from "./sentencepiece.js";

export interface TextTokenizer {
  /** ids of `text`, without BOS/EOS */
  encode(text: string): number[];
  /** text of `ids`, special tokens dropped */
  decode(ids: readonly number[]): string;
  bosId?: number;
  eosId?: number;
  vocabSize: number;
  /** tokenizer_config.json's chat_template (the "default" one of a list) with the special-token strings it may use */
  chat?: { template: string; bosToken?: string; eosToken?: string };
}

function tokenString(v: unknown): string | undefined {
  const content = typeof v === "string" ? v : typeof v === "object" && v !== null ? (v as { content?: unknown }).content : undefined;
  return typeof content === "string" ? content : undefined;
}

/** chat_template is a string, or (newer transformers) a list of {name, template}: the one named "default", else the first. */
function chatTemplateOf(config: Record<string, unknown>): string | undefined {
  const t = config.chat_template;
  if (typeof t === "string") return t;
  if (!Array.isArray(t)) return undefined;
  const named = t.filter((x): x is { name?: unknown; template: string } => typeof x === "object" && x !== null && typeof (x as { template?: unknown }).template === "string");
  return (named.find((x) => x.name === "default") ?? named[0])?.template;
}

function specialId(tok: Tokenizer, config: Record<string, unknown>, key: string): number | undefined {
  const content = tokenString(config[key]);
  return content !== undefined ? tok.token_to_id(content) : undefined;
}

export function makeTokenizer(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown> = {}): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson as object, tokenizerConfig);
  } catch (err) {
    throw new CheckpointError("BAD_TOKENIZER", `tokenizer.json cannot be loaded: ${(err as Error).message}`);
  }
  const template = chatTemplateOf(tokenizerConfig);
  return {
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode([...ids], { skip_special_tokens: true }),
    bosId: specialId(tok, tokenizerConfig, "bos_token"),
    eosId: specialId(tok, tokenizerConfig, "eos_token"),
    vocabSize: tok.get_vocab(true).size,
    ...(template !== undefined ? { chat: { template, bosToken: tokenString(tokenizerConfig.bos_token), eosToken: tokenString(tokenizerConfig.eos_token) } } : {}),
  };
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CheckpointError("BAD_TOKENIZER", `not valid JSON: ${(err as Error).message}`, undefined, path);
  }
}

/** The tokenizer of a HF folder: tokenizer.json (+ tokenizer_config.json), else a SentencePiece tokenizer.model. */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const config = (await readJson(join(dir, "tokenizer_config.json"))) ?? {};
  const json = await readJson(join(dir, "tokenizer.json"));
  if (json) return makeTokenizer(json, config);
  let spm: Uint8Array;
  try {
    spm = await readFile(join(dir, "tokenizer.model"));
  } catch {
    throw new CheckpointError("BAD_TOKENIZER", "no tokenizer.json or tokenizer.model in the folder", undefined, dir);
  }
  const files = sentencePieceToTokenizerJson(parseSentencePieceModel(spm));
  return makeTokenizer(files.tokenizerJson, { ...files.tokenizerConfig, ...config });
}
