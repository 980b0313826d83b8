import * as tf from "@tensorflow/tfjs";
import type { LlamaModel, ForwardOptions } from "./config.js";
import { weight } from "./weights.js";
import { rmsNorm } from "./rms-norm.js";
import { selfAttention } from "./attention.js";
import { mlp } from "./mlp.js";

/** LlamaDecoderLayer (module model.layers.N): pre-norm attention and MLP, each with a residual; [batch, seq, hidden]. */
export function decoderLayer(model: LlamaModel, layer: number, hidden: tf.Tensor3D, opts?: ForwardOptions): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, s, h] = hidden.shape;
    const eps = model.config.rmsNormEps;
    const p = `model.layers.${layer}`;
    const x = tf.reshape(hidden, [b * s, h]) as tf.Tensor2D;
    const a = tf.add(x, selfAttention(model, layer, rmsNorm(x, weight(model, `${p}.input_layernorm.weight`), eps), b, s, opts)) as tf.Tensor2D;
    const out = tf.add(a, mlp(model, layer, rmsNorm(a, weight(model, `${p}.post_attention_layernorm.weight`), eps), opts));
    return tf.reshape(out, [b, s, h]);
  });
}
