import * as tf from "@tensorflow/tfjs";
import { embed, lmHead, decoderLayer, type LlamaModel, type ForwardOptions } from "./model.js";

/**
 * Greedy decoding: appends the argmax token until maxNewTokens or an EOS (any of `eosId` when it lists several). No KV cache: each step reruns the window
 * (at most maxPositionEmbeddings tokens), which is fine for the short samples the CLI and tests print.
 */
export function greedyGenerate(model: LlamaModel, prompt: readonly number[], maxNewTokens: number, opts: ForwardOptions & { eosId?: number | readonly number[] } = {}): number[] {
  const ids = [...prompt];
  const eos = new Set(opts.eosId === undefined ? [] : typeof opts.eosId === "number" ? [opts.eosId] : opts.eosId);
  const out: number[] = [];
  const maxLen = model.config.maxPositionEmbeddings;
  for (let step = 0; step < maxNewTokens; step++) {
    const window = ids.slice(-maxLen);
    const next = tf.tidy(() => {
      let h = embed(model, tf.tensor2d(window, [1, window.length], "int32"));
      for (let l = 0; l < model.config.numHiddenLayers; l++) h = decoderLayer(model, l, h, opts);
      const last = tf.slice(h, [0, window.length - 1, 0], [1, 1, -1]) as tf.Tensor3D;
      return tf.argMax(tf.reshape(lmHead(model, last), [-1])).dataSync()[0];
    });
    if (eos.has(next)) break;
    ids.push(next);
    out.push(next);
  }
  return out;
}
