// SentencePiece tokenizers (a protobuf ModelProto `.model`, or llama2.c's tokenizer.bin) → HF tokenizer.json.
// The tokenizer.json is what transformers' LlamaConverter (legacy mode) builds: a BPE model with byte_fallback
// whose merges come from the vocabulary ordered by piece score, "▁" for spaces via the normalizer, and a decoder
// that undoes it. Only BPE SentencePiece models convert this way (Unigram ones need a Unigram model).
import { CheckpointError } from "./errors.js";

export const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface Piece {
  piece: string;
  score: number;
  type: number;
}

export interface SentencePieceModel {
  pieces: Piece[];
  /** 1 unigram, 2 bpe, 3 word, 4 char (TrainerSpec.model_type; SentencePiece's default is unigram) */
  modelType: number;
  addDummyPrefix: boolean;
}

function bad(message: string): never {
  throw new CheckpointError("BAD_TOKENIZER", message);
}

// Minimal protobuf wire-format reader: just what ModelProto needs (varints, length-delimited, fixed32).
class Proto {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.byteLength) {}
  get done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) bad("SentencePiece model: truncated varint");
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    bad("SentencePiece model: varint too long");
  }
  /** [fieldNumber, wireType] */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t % 8];
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) bad("SentencePiece model: field runs past the end (truncated or not a .model file)");
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  fixed32(): number {
    if (this.pos + 4 > this.end) bad("SentencePiece model: truncated float");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else bad(`SentencePiece model: unsupported protobuf wire type ${wire}`);
    if (this.pos > this.end) bad("SentencePiece model: truncated field");
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Parses a SentencePiece ModelProto (.model): pieces {piece, score, type}, model type, add_dummy_prefix. */
export function parseSentencePieceModel(bytes: Uint8Array): SentencePieceModel {
  const p = new Proto(bytes);
  const pieces: Piece[] = [];
  let modelType = 1;
  let addDummyPrefix = true;
  while (!p.done) {
    const [field, wire] = p.tag();
    if (field === 1 && wire === 2) {
      const sub = p.bytes();
      const q = new Proto(sub);
      const piece: Piece = { piece: "", score: 0, type: PIECE_TYPE.NORMAL };
      while (!q.done) {
        const [f, w] = q.tag();
        if (f === 1 && w === 2) piece.piece = utf8.decode(q.bytes());
        else if (f === 2 && w === 5) piece.score = q.fixed32();
        else if (f === 3 && w === 0) piece.type = q.varint();
        else q.skip(w);
      }
      pieces.push(piece);
    } else if (field === 2 && wire === 2) {
      const q = new Proto(p.bytes());
      while (!q.done) {
        const [f, w] = q.tag();
        if (f === 3 && w === 0) modelType = q.varint();
        else q.skip(w);
      }
    } else if (field === 3 && wire === 2) {
      const q = new Proto(p.bytes());
      while (!q.done) {
        const [f, w] = q.tag();
        if (f === 3 && w === 0) addDummyPrefix = q.varint() !== 0;
        else q.skip(w);
      }
    } else p.skip(wire);
  }
  if (pieces.length === 0) bad("SentencePiece model has no pieces (not a .model file?)");
  return { pieces, modelType, addDummyPrefix };
}

/**
 * llama2.c's tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes.
 * It carries no piece types; llama2.c exports them from a Llama SentencePiece model, so ids 0/1/2 are
 * <unk>/<s>/</s> and pieces spelled <0xNN> are byte-fallback pieces.
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize?: number): SentencePieceModel {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) bad("tokenizer.bin is too short");
  let pos = 4;
  const pieces: Piece[] = [];
  while (pos < bytes.byteLength && (vocabSize === undefined || pieces.length < vocabSize)) {
    if (pos + 8 > bytes.byteLength) bad(`tokenizer.bin is truncated at token ${pieces.length}`);
    const score = dv.getFloat32(pos, true);
    const len = dv.getInt32(pos + 4, true);
    pos += 8;
    if (len < 0 || pos + len > bytes.byteLength) bad(`tokenizer.bin: token ${pieces.length} has a bad length ${len}`);
    const id = pieces.length;
    // llama2.c spells BOS/EOS as "\n<s>\n" and "\n</s>\n" for printing
    const piece = id === 1 ? "<s>" : id === 2 ? "</s>" : utf8.decode(bytes.subarray(pos, pos + len));
    pos += len;
    const type =
      id === 0 ? PIECE_TYPE.UNKNOWN : id === 1 || id === 2 ? PIECE_TYPE.CONTROL : /^<0x[0-9A-F]{2}>$/.test(piece) ? PIECE_TYPE.BYTE : PIECE_TYPE.NORMAL;
    pieces.push({ piece, score, type });
  }
  if (vocabSize !== undefined && pieces.length !== vocabSize) bad(`tokenizer.bin holds ${pieces.length} tokens, the model expects ${vocabSize}`);
  // llama2.c writes pieces with "▁" already replaced by spaces ("▁" is how the .model spells them)
  for (const p of pieces) if (p.type === PIECE_TYPE.NORMAL) p.piece = p.piece.replaceAll(" ", "\u2581");
  return { pieces, modelType: 2, addDummyPrefix: true };
}

/** Merges as transformers' SentencePieceExtractor derives them: every split of a piece into two pieces, by score. */
export function deriveMerges(pieces: readonly Piece[]): [string, string][] {
  const vocab = new Map<string, number>();
  pieces.forEach((p, i) => vocab.set(p.piece, i));
  const merges: { l: string; r: string; score: number; li: number; ri: number }[] = [];
  for (const p of pieces) {
    const chars = Array.from(p.piece); // split on code points, as Python slices strings
    const local: typeof merges = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join("");
      const r = chars.slice(i).join("");
      const li = vocab.get(l);
      const ri = vocab.get(r);
      if (li !== undefined && ri !== undefined) local.push({ l, r, score: p.score, li, ri });
    }
    local.sort((a, b) => a.li - b.li || a.ri - b.ri);
    merges.push(...local);
  }
  // Array.prototype.sort is stable, like Python's sorted
  merges.sort((a, b) => b.score - a.score);
  return merges.map((m) => [m.l, m.r]);
}

export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** The tokenizer.json and tokenizer_config.json transformers writes for a Llama SentencePiece BPE model. */
export function sentencePieceToTokenizerJson(model: SentencePieceModel, opts: { modelMaxLength?: number } = {}): TokenizerFiles {
  if (model.modelType !== 2)
    bad(`SentencePiece model type ${model.modelType} is not BPE (2); only BPE SentencePiece models (LLaMA-style) convert to a BPE tokenizer.json`);
  const { pieces } = model;
  const vocab: Record<string, number> = {};
  pieces.forEach((p, i) => {
    if (!(p.piece in vocab)) vocab[p.piece] = i;
  });
  const find = (type: number, fallback: string) => pieces.find((p) => p.type === type && p.piece === fallback)?.piece ?? fallback;
  const unk = pieces.find((p) => p.type === PIECE_TYPE.UNKNOWN)?.piece ?? "<unk>";
  const bos = find(PIECE_TYPE.CONTROL, "<s>");
  const eos = find(PIECE_TYPE.CONTROL, "</s>");
  const special = pieces
    .map((p, id) => ({ p, id }))
    .filter(({ p }) => p.type === PIECE_TYPE.UNKNOWN || p.type === PIECE_TYPE.CONTROL || p.type === PIECE_TYPE.USER_DEFINED);
  const bosId = vocab[bos];
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: special.map(({ p, id }) => ({
      id,
      content: p.piece,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: p.type === PIECE_TYPE.USER_DEFINED,
      special: p.type !== PIECE_TYPE.USER_DEFINED,
    })),
    normalizer: {
      type: "Sequence",
      normalizers: [
        ...(model.addDummyPrefix ? [{ type: "Prepend", prepend: "\u2581" }] : []),
        { type: "Replace", pattern: { String: " " }, content: "\u2581" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: bosId === undefined ? {} : { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "\u2581" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        ...(model.addDummyPrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: deriveMerges(pieces),
    },
  };
  const tokenizerConfig = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: bos,
    eos_token: eos,
    unk_token: unk,
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: opts.modelMaxLength ?? 2048,
    // as save_pretrained writes it: AutoTokenizer adds "Fast" unless use_fast=False, which then gets the slow
    // tokenizer from tokenizer.model ("LlamaTokenizerFast" here would give the fast one even then)
    tokenizer_class: "LlamaTokenizer",
  };
  return { tokenizerJson, tokenizerConfig };
}
