// Perplexity = exp(mean next-token NLL) over the seq-1 predicted positions of every window.
import * as tf from "@tensorflow/tfjs";
import { forward, type ForwardOptions, type LlamaModel } from "../llama/model.js";

/**
 * Mean NLL of ids[:, 1:] given ids[:, :-1]: a scalar, differentiable (the MaskLLM loss).
 * The target logit is picked with a gather on the flattened logits rather than a one-hot product,
 * so memory stays O(tokens), not O(tokens·vocab), for large vocabularies.
 */
export function nextTokenNll(model: LlamaModel, ids: tf.Tensor2D, opts?: ForwardOptions): tf.Scalar {
  return tf.tidy(() => {
    const [b, s] = ids.shape;
    const v = model.config.vocabSize;
    const logits = tf.reshape(tf.slice(forward(model, ids, opts), [0, 0, 0], [b, s - 1, v]), [b * (s - 1), v]);
    const targets = tf.reshape(tf.slice(ids, [0, 1], [b, s - 1]), [-1]);
    const rows = tf.range(0, b * (s - 1), 1, "int32");
    const flatIdx = tf.add(tf.mul(rows, tf.scalar(v, "int32")), targets);
    // logSoftmax rather than logSumExp − logit: logSumExp's gradient goes through max (an Equal mask over all
    // logits), which is slow on wasm; logSoftmax has its own closed-form gradient
    return tf.neg(tf.mean(tf.gather(tf.reshape(tf.logSoftmax(logits), [-1]), flatIdx))) as tf.Scalar;
  });
}

export interface PerplexityOptions {
  batchSize: number;
  onProgress?: (done: number, total: number) => void;
  mask?: ForwardOptions["mask"];
}

export interface PerplexityResult {
  perplexity: number;
  /** predicted positions scored: windows × (seqLen − 1) */
  tokens: number;
  windows: number;
  /** input tokens processed per second */
  tokensPerSec: number;
}

export function perplexity(model: LlamaModel, windows: readonly Int32Array[], opts: PerplexityOptions): PerplexityResult {
  if (windows.length === 0) throw new RangeError("no windows to evaluate (the text is shorter than one window)");
  const seq = windows[0].length;
  if (windows.some((w) => w.length !== seq)) throw new RangeError("all windows must have the same length");
  const bs = Math.max(1, Math.floor(opts.batchSize));
  let nllSum = 0;
  let tokens = 0;
  const t0 = performance.now();
  for (let i = 0; i < windows.length; i += bs) {
    const batch = windows.slice(i, i + bs);
    const flat = new Int32Array(batch.length * seq);
    batch.forEach((w, j) => flat.set(w, j * seq));
    const mean = tf.tidy(() => nextTokenNll(model, tf.tensor2d(flat, [batch.length, seq], "int32"), { mask: opts.mask }).dataSync()[0]);
    const n = batch.length * (seq - 1);
    nllSum += mean * n;
    tokens += n;
    opts.onProgress?.(Math.min(i + bs, windows.length), windows.length);
  }
  const secs = (performance.now() - t0) / 1000;
  return { perplexity: Math.exp(nllSum / tokens), tokens, windows: windows.length, tokensPerSec: (windows.length * seq) / secs };
}
