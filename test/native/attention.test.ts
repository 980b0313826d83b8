// The native causal attention (src/native/attention.cc) against the wasm kernel it replaces, forward and backward,
// with each tile the CPU has, on MHA and GQA shapes whose sizes fit no tile (head dims 6, 8, 64, 128; sequences of
// 1 to 600); each window computed alone gives the same bits as the windows together; runRange takes it when plugged
// in. Skipped where the addon is not built (or was built before attention.cc) or the CPU lacks AVX2+FMA.
import { test } from "node:test";
import assert from "node:assert/strict";
import { attentionBackward, attentionForward, type AttentionShape, type RopeValues } from "../../src/maskllm/kernels/attention-module.js";
import { setLinearKernels, type LinearKernels } from "../../src/maskllm/host/linear-kernels.js";
import { runRange } from "../../src/maskllm/host/ops.js";
import { nativeAddonUnderTest, seededUniform } from "../helpers/native-addon.js";

const { addon, skip: unavailable, best, isas } = nativeAddonUnderTest();
const skip = unavailable || (!addon!.attentionForward ? "native addon built without attention: npm run build:native" : false);

const uniform01 = seededUniform(5);
const rnd = () => uniform01() - 0.5;
const randn = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rnd() * scale);

// HF's tables (base 10000), the queries' times 1/√headDim
function ropeTables(seq: number, hd: number): RopeValues {
  const cos = new Float32Array(seq * hd);
  const sin = new Float32Array(seq * hd);
  for (let i = 0; i < seq; i++)
    for (let d = 0; d < hd; d++) {
      const angle = i / Math.pow(10000, (2 * (d % (hd / 2))) / hd);
      cos[i * hd + d] = Math.cos(angle);
      sin[i * hd + d] = Math.sin(angle);
    }
  const scale = 1 / Math.sqrt(hd);
  return { cosQ: cos.map((x) => x * scale), sinQ: sin.map((x) => x * scale), cosK: cos, sinK: sin };
}

const maxAbs = (...arrays: Float32Array[]) => Math.max(...arrays.map((a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0)));

// every element within 1e-5 of a norm: the largest of its array, or of all three gradients (at seq 1, dq is zero
// but for rounding: dS = P·(dO·v − dO·o) with o = v)
function close(label: string, a: Float32Array, b: Float32Array, norm: number): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * norm, `${label}: [${i}] ${a[i]} vs ${b[i]} (norm ${norm})`);
}

interface Case {
  s: AttentionShape;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dO: Float32Array;
  rope: RopeValues;
}

// q and k large enough that the softmax is far from uniform
function makeCase(batch: number, seq: number, heads: number, kvHeads: number, headDim: number): Case {
  const s = { batch, seq, heads, kvHeads, headDim };
  const [nq, nkv] = [batch * seq * heads * headDim, batch * seq * kvHeads * headDim];
  return { s, q: randn(nq, 6), k: randn(nkv, 6), v: randn(nkv), dO: randn(nq), rope: ropeTables(seq, headDim) };
}

type Outputs = { o: Float32Array; lse: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array };

function run(c: Case, f: typeof attentionForward, b: typeof attentionBackward): Outputs {
  const { s } = c;
  const o = new Float32Array(c.q.length).fill(NaN);
  const lse = new Float32Array(s.batch * s.heads * s.seq).fill(NaN);
  f(s, c.q, c.k, c.v, c.rope, o, lse);
  const [dq, dk, dv] = [new Float32Array(c.q.length).fill(NaN), new Float32Array(c.k.length).fill(NaN), new Float32Array(c.v.length).fill(NaN)];
  b(s, c.q, c.k, c.v, o, lse, c.dO, c.rope, dq, dk, dv);
  return { o, lse, dq, dk, dv };
}

const native = () => [addon!.attentionForward!.bind(addon), addon!.attentionBackward!.bind(addon)] as const;

// [batch, seq, heads, kvHeads, headDim]
const SHAPES: [number, number, number, number, number][] = [
  [1, 1, 2, 2, 8],
  [2, 7, 4, 2, 8],
  [3, 33, 4, 1, 64],
  [1, 256, 8, 8, 64],
  [2, 33, 2, 1, 128],
  [1, 100, 4, 2, 128],
  [2, 70, 3, 3, 6],
  [1, 600, 2, 1, 8],
];

for (const isa of isas)
  test(`native attention forward and backward equal the wasm kernel's (MHA, GQA, ragged sizes): ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    for (const shape of SHAPES) {
      const c = makeCase(...shape);
      const label = `${isa} ${JSON.stringify(c.s)}`;
      const want = run(c, attentionForward, attentionBackward);
      const got = run(c, ...native());
      const gradNorm = maxAbs(want.dq, want.dk, want.dv);
      for (const name of ["o", "lse", "dq", "dk", "dv"] as const) close(`${name} ${label}`, got[name], want[name], name === "o" || name === "lse" ? maxAbs(want[name]) : gradNorm);
    }
  });

for (const isa of isas)
  test(`native attention: each window alone gives the same bits as the windows together: ${isa}`, { skip }, () => {
    addon!.setIsa(isa);
    const c = makeCase(3, 45, 4, 2, 16);
    const whole = run(c, ...native());
    const { seq, heads, kvHeads, headDim: hd } = c.s;
    const parts = { o: new Float32Array(c.q.length), lse: new Float32Array(whole.lse.length), dq: new Float32Array(c.q.length), dk: new Float32Array(c.k.length), dv: new Float32Array(c.v.length) };
    for (const [b0, b1] of [[0, 1], [1, 3]]) {
      const rows = (a: Float32Array, h: number) => a.subarray(b0 * seq * h * hd, b1 * seq * h * hd);
      const part: Case = { s: { ...c.s, batch: b1 - b0 }, q: rows(c.q, heads), k: rows(c.k, kvHeads), v: rows(c.v, kvHeads), dO: rows(c.dO, heads), rope: c.rope };
      const out = run(part, ...native());
      parts.o.set(out.o, b0 * seq * heads * hd);
      parts.lse.set(out.lse, b0 * heads * seq);
      parts.dq.set(out.dq, b0 * seq * heads * hd);
      parts.dk.set(out.dk, b0 * seq * kvHeads * hd);
      parts.dv.set(out.dv, b0 * seq * kvHeads * hd);
    }
    assert.deepEqual(parts, whole);
  });

test("native attention refuses shapes and arrays the wasm kernel refuses, with its messages", { skip }, () => {
  const c = makeCase(1, 5, 2, 1, 4);
  const [f, b] = native();
  const o = new Float32Array(c.q.length);
  const lse = new Float32Array(10);
  assert.throws(() => f({ ...c.s, heads: 3, kvHeads: 2 }, c.q, c.k, c.v, c.rope, o, lse), /attention: 3 heads are not a multiple of 2 kv heads/);
  assert.throws(() => f({ ...c.s, headDim: 0 }, c.q, c.k, c.v, c.rope, o, lse), /attention: bad shape/);
  assert.throws(() => f({ ...c.s, seq: 2.5 }, c.q, c.k, c.v, c.rope, o, lse), /attention: bad shape/);
  assert.throws(() => f(c.s, c.q, c.k, c.v, c.rope, o, new Float32Array(9)), /attention: lse has 9 values, expected 10/);
  assert.throws(() => f(c.s, c.q, c.k, c.v, { ...c.rope, sinK: new Float32Array(3) }, o, lse), /attention: sinK has 3 values, expected 20/);
  const dq = new Float32Array(c.q.length);
  assert.throws(() => b(c.s, c.q, c.k, c.v, o, lse, c.dO, c.rope, dq, new Float32Array(3), new Float32Array(c.v.length)), /attention: dk has 3 values, expected 20/);
  assert.throws(() => b(c.s, c.q, c.k, c.v, o, lse, c.dO, c.rope, dq, c.k, new Int32Array(20) as unknown as Float32Array), /Float32Array/);
  const odd = makeCase(1, 3, 1, 1, 2);
  assert.throws(() => f({ ...odd.s, headDim: 3 }, odd.q, odd.k, odd.v, odd.rope, new Float32Array(odd.q.length), new Float32Array(3)), /attention: RoPE needs an even head dimension, got 3/);
});

test("the host's attention ops run on the plugged-in kernels' attention, a range of windows at a time", { skip }, () => {
  addon!.setIsa(best);
  const c = makeCase(3, 9, 2, 2, 8);
  const want = run(c, ...native());
  const calls: number[] = [];
  const plugged: LinearKernels = {
    isa: () => addon!.isa(),
    linear: addon!.linear.bind(addon),
    maskedWeightGradRows: addon!.maskedWeightGradRows.bind(addon),
    attentionForward: (s, ...rest) => (calls.push(s.batch), addon!.attentionForward!(s, ...rest)),
    attentionBackward: (s, ...rest) => (calls.push(-s.batch), addon!.attentionBackward!(s, ...rest)),
  };
  setLinearKernels(plugged);
  try {
    const o = new Float32Array(c.q.length);
    const lse = new Float32Array(want.lse.length);
    const [dq, dk, dv] = [new Float32Array(c.q.length), new Float32Array(c.k.length), new Float32Array(c.v.length)];
    const cut = Math.ceil(c.s.batch / 2);
    for (const [w0, w1] of [[0, cut], [cut, c.s.batch]]) runRange({ kind: "attention", shape: c.s, q: c.q, k: c.k, v: c.v, rope: c.rope, o, lse }, w0, w1);
    for (const [w0, w1] of [[0, cut], [cut, c.s.batch]]) runRange({ kind: "attentionBackward", shape: c.s, q: c.q, k: c.k, v: c.v, o, lse, dO: c.dO, rope: c.rope, dq, dk, dv }, w0, w1);
    assert.deepEqual(calls, [2, 1, -2, -1]);
    assert.deepEqual({ o, lse, dq, dk, dv }, want);
  } finally {
    setLinearKernels(undefined);
  }
});
