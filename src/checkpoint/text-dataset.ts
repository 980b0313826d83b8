// Text files → token windows for evaluation, calibration and training, following the stories260K protocol
// (SHARED_DIR/data/tinystories/PROVENANCE.md): each document gets BOS, documents are concatenated, and the
// stream is cut into non-overlapping windows with the tail dropped.
import type { TextTokenizer } from "./tokenizer.js";
import type { TextFormatName } from "../contract/datasets.js";
import { mulberry32Bits } from "../maskllm/train/rng.js";

export type TextFormat = TextFormatName;

const EOT = "<|endoftext|>";
const NUL = String.fromCharCode(0);

/**
 * text: documents separated by blank lines (lines of only whitespace), each trimmed. stories: split on <|endoftext|> or NUL, trim, drop empty pieces, and drop the last piece when the file does not
 * end with a separator (it is a story cut off mid-way). wikitext: the whole file is one document.
 */
export function readDocuments(text: string, format: TextFormat): string[] {
  if (format === "wikitext") return text.length > 0 ? [text] : [];
  if (format === "text") return text.split(/\r?\n[^\S\r\n]*\r?\n/).map((p) => p.trim()).filter((p) => p.length > 0);
  const pieces = text.split(EOT).flatMap((p) => p.split(NUL));
  // after a final separator split() yields a trailing "" (dropped as empty); otherwise the last piece is partial
  const tail = text.trimEnd();
  if (!tail.endsWith(EOT) && !tail.endsWith(NUL)) pieces.pop();
  return pieces.map((p) => p.trim()).filter((p) => p.length > 0);
}

/** One token stream: [BOS?] doc₀ [BOS?] doc₁ … */
export function tokenizeStream(tokenizer: Pick<TextTokenizer, "encode">, docs: readonly string[], opts: { bos?: number }): Int32Array {
  const parts: number[][] = [];
  let n = 0;
  for (const d of docs) {
    const ids = tokenizer.encode(d);
    parts.push(ids);
    n += ids.length + (opts.bos !== undefined ? 1 : 0);
  }
  const out = new Int32Array(n);
  let o = 0;
  for (const ids of parts) {
    if (opts.bos !== undefined) out[o++] = opts.bos;
    out.set(ids, o);
    o += ids.length;
  }
  return out;
}

/** Non-overlapping windows of seqLen tokens; the tail shorter than seqLen is dropped. */
export function evalWindows(tokens: Int32Array, seqLen: number): Int32Array[] {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`seqLen must be an integer >= 2, got ${seqLen}`);
  const out: Int32Array[] = [];
  for (let s = 0; s + seqLen <= tokens.length; s += seqLen) out.push(tokens.subarray(s, s + seqLen));
  return out;
}

// seeded, so the same seed gives the same windows on every machine; uniforms in [0, 1)
function uniform(seed: number): () => number {
  const bits = mulberry32Bits(seed);
  return () => bits() / 4294967296;
}

/** `count` windows of seqLen tokens at random starts (deterministic for a seed; windows may overlap). */
export function sampleWindows(tokens: Int32Array, count: number, seqLen: number, seed: number): Int32Array[] {
  if (tokens.length < seqLen) throw new RangeError(`the text has ${tokens.length} tokens, fewer than one window of ${seqLen}`);
  const rand = uniform(seed);
  const out: Int32Array[] = [];
  for (let i = 0; i < count; i++) {
    const s = Math.floor(rand() * (tokens.length - seqLen + 1));
    out.push(tokens.subarray(s, s + seqLen));
  }
  return out;
}
