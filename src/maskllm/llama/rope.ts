import * as tf from "@tensorflow/tfjs";
import type { LlamaConfig } from "./config.js";
import { matMul2d } from "./matmul.js";
import type { RopeValues } from "../kernels/attention-module.js";

// Rotary position embedding in HF's rotate-half layout: out = x·cos + rotate_half(x)·sin with
// rotate_half(x) = [-x₂, x₁]. rotate_half is a product with a signed permutation matrix: on WASM a tiny
// [headDim, headDim] matMul is much cheaper than split + concat along the last axis. Tables depend only on
// (seq, the config's rope spec, scale); they are built once and kept for the process. ropeParameters is the one
// home of rope_scaling: every path (TF.js fused and composite, host trainer, layer-by-layer pruner, generation)
// takes its tables from ropeTableValues.

interface RopeTables {
  cos: tf.Tensor2D; // [seq, headDim]
  sin: tf.Tensor2D; // [seq, headDim]
  rotate: tf.Tensor2D; // [headDim, headDim]: x·rotate = rotate_half(x)
}

/** What RoPE reads from a config. */
export type RopeConfig = Pick<LlamaConfig, "headDim" | "ropeTheta" | "ropeScaling" | "maxPositionEmbeddings">;

const tables = new Map<string, RopeTables>();
const values = new Map<string, { cos: Float32Array; sin: Float32Array }>();

/** HF's default inv_freq, 1/θ^(2i/d), in float32 as transformers computes it. */
function defaultInvFreq(theta: number, dim: number): Float64Array {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = Math.fround(1 / Math.pow(theta, (2 * i) / dim));
  return inv;
}

/**
 * inv_freq [headDim/2] and the attention factor (multiplied into cos and sin) for a sequence of `seq` positions,
 * as transformers' modeling_rope_utils computes them for the config's rope_scaling: default, linear, dynamic
 * (NTK base rescaling once seq passes max_position_embeddings; transformers grows a cache, here each sequence
 * gets the table of its own length), llama3 and yarn.
 */
export function ropeParameters(c: RopeConfig, seq: number): { invFreq: Float64Array; attentionFactor: number } {
  const dim = c.headDim;
  const r = c.ropeScaling;
  if (!r) return { invFreq: defaultInvFreq(c.ropeTheta, dim), attentionFactor: 1 };
  switch (r.ropeType) {
    case "linear":
      return { invFreq: defaultInvFreq(c.ropeTheta, dim).map((f) => f / r.factor), attentionFactor: 1 };
    case "dynamic": {
      const max = c.maxPositionEmbeddings;
      const len = Math.max(seq, max);
      const base = c.ropeTheta * Math.pow((r.factor * len) / max - (r.factor - 1), dim / (dim - 2));
      return { invFreq: defaultInvFreq(base, dim), attentionFactor: 1 };
    }
    case "llama3": {
      const inv = defaultInvFreq(c.ropeTheta, dim);
      const lowWavelen = r.originalMaxPositionEmbeddings / r.lowFreqFactor;
      const highWavelen = r.originalMaxPositionEmbeddings / r.highFreqFactor;
      return {
        invFreq: inv.map((f) => {
          const wavelen = (2 * Math.PI) / f;
          if (wavelen < highWavelen) return f; // high frequencies kept
          if (wavelen > lowWavelen) return f / r.factor; // low frequencies interpolated
          const smooth = (r.originalMaxPositionEmbeddings / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
          return ((1 - smooth) * f) / r.factor + smooth * f;
        }),
        attentionFactor: 1,
      };
    }
    case "yarn": {
      const base = c.ropeTheta;
      const original = r.originalMaxPositionEmbeddings ?? c.maxPositionEmbeddings;
      const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
      const attentionFactor = r.attentionFactor ?? (r.mscale && r.mscaleAllDim ? mscale(r.factor, r.mscale) / mscale(r.factor, r.mscaleAllDim) : mscale(r.factor));
      const correctionDim = (rotations: number) => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
      const truncate = r.truncate ?? true;
      let low = correctionDim(r.betaFast ?? 32);
      let high = correctionDim(r.betaSlow ?? 1);
      if (truncate) {
        low = Math.floor(low);
        high = Math.ceil(high);
      }
      low = Math.max(low, 0);
      high = Math.min(high, dim - 1);
      if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
      const inv = new Float64Array(dim / 2);
      for (let i = 0; i < dim / 2; i++) {
        const posFreq = Math.pow(base, (2 * i) / dim);
        const extrapolation = 1 - Math.min(1, Math.max(0, (i - low) / (high - low)));
        inv[i] = (1 / (r.factor * posFreq)) * (1 - extrapolation) + (1 / posFreq) * extrapolation;
      }
      return { invFreq: inv, attentionFactor };
    }
  }
}

function ropeKey(seq: number, c: RopeConfig, scale: number): string {
  // dynamic scaling only changes with seq past max_position_embeddings; every other kind is keyed by its fields
  return `${seq}:${c.headDim}:${c.ropeTheta}:${scale}:${c.ropeScaling ? `${c.maxPositionEmbeddings}:${JSON.stringify(c.ropeScaling)}` : ""}`;
}

/** The cos/sin tables' values [seq, headDim] (positions 0..seq-1, the attention factor and `scale` multiplied in), built once per shape. */
export function ropeTableValues(seq: number, c: RopeConfig, scale = 1): { cos: Float32Array; sin: Float32Array } {
  const key = ropeKey(seq, c, scale);
  let t = values.get(key);
  if (t) return t;
  const headDim = c.headDim;
  const half = headDim / 2;
  const { invFreq: inv, attentionFactor } = ropeParameters(c, seq);
  const cos = new Float32Array(seq * headDim);
  const sin = new Float32Array(seq * headDim);
  for (let i = 0; i < half; i++) {
    // HF computes inv_freq and the angles in float32; Math.fround keeps the angles identical
    const invFreq = Math.fround(inv[i]);
    for (let p = 0; p < seq; p++) {
      const a = Math.fround(p * invFreq);
      // HF multiplies the factor into cos/sin in float32; plain RoPE's factor 1 leaves the values as they were
      const c0 = attentionFactor === 1 ? Math.cos(a) : Math.fround(Math.cos(a) * attentionFactor);
      const s0 = attentionFactor === 1 ? Math.sin(a) : Math.fround(Math.sin(a) * attentionFactor);
      const cv = c0 * scale;
      const sv = s0 * scale;
      cos[p * headDim + i] = cv;
      cos[p * headDim + half + i] = cv;
      sin[p * headDim + i] = sv;
      sin[p * headDim + half + i] = sv;
    }
  }
  t = { cos, sin };
  values.set(key, t);
  return t;
}

/** The attention kernel's tables for `seq` positions: the queries' carry the 1/√headDim score scale. */
export function attentionRopeValues(seq: number, c: RopeConfig): RopeValues {
  const q = ropeTableValues(seq, c, 1 / Math.sqrt(c.headDim));
  const k = ropeTableValues(seq, c);
  return { cosQ: q.cos, sinQ: q.sin, cosK: k.cos, sinK: k.sin };
}

/** cos/sin tables for positions 0..seq-1; `scale` is multiplied in (the attention 1/√d folded into q for free). */
export function ropeTables(seq: number, c: RopeConfig, scale = 1): RopeTables {
  const key = ropeKey(seq, c, scale);
  let t = tables.get(key);
  if (t) return t;
  const headDim = c.headDim;
  const { cos, sin } = ropeTableValues(seq, c, scale);
  const half = headDim / 2;
  const r = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    r[(i + half) * headDim + i] = -1; // out[i] = -x[i + half]
    r[i * headDim + i + half] = 1; // out[i + half] = x[i]
  }
  t = {
    cos: tf.keep(tf.tensor2d(cos, [seq, headDim])),
    sin: tf.keep(tf.tensor2d(sin, [seq, headDim])),
    rotate: tf.keep(tf.tensor2d(r, [headDim, headDim])),
  };
  tables.set(key, t);
  return t;
}

/** x: [..., seq, headDim] → x·cos + rotate_half(x)·sin. */
export function applyRope<T extends tf.Tensor>(x: T, t: RopeTables): T {
  return tf.tidy(() => {
    const hd = x.shape[x.rank - 1];
    const rotated = tf.reshape(matMul2d(tf.reshape(x, [-1, hd]) as tf.Tensor2D, t.rotate), x.shape);
    return tf.add(tf.mul(x, t.cos), tf.mul(rotated, t.sin)) as T;
  });
}

/** Frees the cached tables (tests that count tensors, or a process switching models). */
export function clearRopeCache(): void {
  for (const t of tables.values()) tf.dispose([t.cos, t.sin, t.rotate]);
  tables.clear();
  values.clear();
}
