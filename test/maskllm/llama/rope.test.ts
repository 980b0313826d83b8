// rope_scaling: inv_freq and the attention factor of every kind against an independent float64 transcription of
// transformers' modeling_rope_utils (test/helpers/hf-reference.ts), and the cos/sin
// tables the kernels take built from them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ropeParameters, ropeTableValues, type RopeConfig } from "../../../src/maskllm/llama/rope.js";
import { hfDefaultInvFreq as hfDefault, hfDynamicInvFreq as hfDynamic, hfLinearInvFreq as hfLinear, hfLlama3InvFreq as hfLlama3, hfYarn } from "../../helpers/hf-reference.js";

const close = (got: ArrayLike<number>, want: number[], what: string, rel = 1e-6) => {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= rel * Math.abs(want[i]) + 1e-12, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
};

const base: RopeConfig = { headDim: 64, ropeTheta: 500000, maxPositionEmbeddings: 131072 };

test("plain RoPE: 1/θ^(2i/d), factor 1", () => {
  const p = ropeParameters(base, 16);
  close(p.invFreq, hfDefault(500000, 64), "inv_freq");
  assert.equal(p.attentionFactor, 1);
});

test("llama3 (Llama 3.1/3.2's rope_scaling): low frequencies divided by factor, high kept, the middle smoothed", () => {
  const s = { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  const p = ropeParameters({ ...base, ropeScaling: { ropeType: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } }, 16);
  const want = hfLlama3(500000, 64, s);
  close(p.invFreq, want, "inv_freq");
  const plain = hfDefault(500000, 64);
  // all three regimes occur at head_dim 64, θ 5e5: kept, smoothed and divided
  assert.ok(want.some((f, i) => f === plain[i]) && want.some((f, i) => Math.abs(f - plain[i] / 32) < 1e-20) && want.some((f, i) => f !== plain[i] && Math.abs(f - plain[i] / 32) > 1e-20));
  assert.equal(p.attentionFactor, 1);
});

test("linear: inv_freq / factor", () => {
  const p = ropeParameters({ ...base, ropeTheta: 10000, ropeScaling: { ropeType: "linear", factor: 4 } }, 16);
  close(p.invFreq, hfLinear(10000, 64, 4), "inv_freq");
});

test("dynamic NTK: plain up to max_position_embeddings, the base rescaled for longer sequences", () => {
  const c: RopeConfig = { headDim: 16, ropeTheta: 10000, maxPositionEmbeddings: 32, ropeScaling: { ropeType: "dynamic", factor: 2 } };
  close(ropeParameters(c, 16).invFreq, hfDefault(10000, 16), "short");
  close(ropeParameters(c, 32).invFreq, hfDefault(10000, 16), "at max");
  const long = hfDynamic(10000, 16, 2, 32, 64);
  close(ropeParameters(c, 64).invFreq, long, "long");
  assert.ok(long[3] < hfDefault(10000, 16)[3], "a longer sequence lowers the frequencies");
});

test("yarn (Qwen2.5's long context): blend of interpolation and extrapolation, attention factor 0.1·ln(factor)+1 in cos/sin", () => {
  const c: RopeConfig = { headDim: 128, ropeTheta: 1e6, maxPositionEmbeddings: 32768, ropeScaling: { ropeType: "yarn", factor: 4, originalMaxPositionEmbeddings: 32768 } };
  const want = hfYarn(1e6, 128, 32768, { factor: 4, original_max_position_embeddings: 32768 });
  const p = ropeParameters(c, 8);
  close(p.invFreq, want.invFreq, "inv_freq");
  assert.ok(Math.abs(p.attentionFactor - (0.1 * Math.log(4) + 1)) < 1e-15);
  const custom = hfYarn(10000, 32, 64, { factor: 8, beta_fast: 16, beta_slow: 2, attention_factor: 1.5, truncate: false });
  const q = ropeParameters({ headDim: 32, ropeTheta: 10000, maxPositionEmbeddings: 64, ropeScaling: { ropeType: "yarn", factor: 8, betaFast: 16, betaSlow: 2, attentionFactor: 1.5, truncate: false } }, 8);
  close(q.invFreq, custom.invFreq, "inv_freq (custom betas, no truncation)");
  assert.equal(q.attentionFactor, 1.5);
  // the tables carry the factor: cos²+sin² = factor² at every position
  const t = ropeTableValues(8, c, 0.5);
  for (const i of [0, 5 * 128 + 3, 7 * 128 + 100]) assert.ok(Math.abs(Math.hypot(t.cos[i], t.sin[i]) - 0.5 * p.attentionFactor) < 1e-6);
  const pos = 5, i = 9;
  assert.ok(Math.abs(t.cos[pos * 128 + i] - 0.5 * p.attentionFactor * Math.cos(pos * want.invFreq[i])) < 1e-6);
  assert.equal(t.cos[pos * 128 + i], t.cos[pos * 128 + 64 + i], "rotate-half layout: both halves share an angle");
});

test("plain RoPE's tables are unchanged by the rope spec: no scaling is the old (seq, headDim, θ, scale) table", () => {
  const t = ropeTableValues(12, { headDim: 8, ropeTheta: 10000, maxPositionEmbeddings: 4 }, 0.25);
  for (let p = 0; p < 12; p++)
    for (let i = 0; i < 4; i++) {
      const a = Math.fround(p * Math.fround(1 / Math.pow(10000, (2 * i) / 8)));
      assert.equal(t.cos[p * 8 + i], Math.fround(Math.cos(a) * 0.25));
      assert.equal(t.sin[p * 8 + 4 + i], Math.fround(Math.sin(a) * 0.25));
    }
});
