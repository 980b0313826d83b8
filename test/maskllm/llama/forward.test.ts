// The TF.js forward pass against a naive float64 re-implementation of transformers' LlamaForCausalLM
// (repeat_kv, rotate_half, softmax with a causal mask, written with plain loops), plus leaks, masks and gradients.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { forward, linearWeightNames, type LlamaModel } from "../../../src/maskllm/llama/model.js";
import { nextTokenNll } from "../../../src/maskllm/eval/perplexity.js";
import { tinyLlama } from "../../helpers/tiny-llama.js";

await initBackend("wasm");

type M = number[][];
const get = (m: LlamaModel, n: string) => {
  const t = m.weights.get(n)!;
  const v = Array.from(t.dataSync());
  if (t.rank === 1) return [v];
  const [r, c] = t.shape;
  return Array.from({ length: r }, (_, i) => v.slice(i * c, (i + 1) * c));
};
const lin = (x: M, w: M, b?: number[]) => x.map((row) => w.map((wr, o) => wr.reduce((a, wv, i) => a + wv * row[i], b ? b[o] : 0)));
const rms = (x: M, w: number[], eps: number) =>
  x.map((r) => {
    const s = 1 / Math.sqrt(r.reduce((a, v) => a + v * v, 0) / r.length + eps);
    return r.map((v, i) => v * s * w[i]);
  });

function reference(m: LlamaModel, ids: number[]): M {
  const c = m.config;
  const hd = c.headDim;
  const emb = get(m, "model.embed_tokens.weight");
  let h: M = ids.map((i) => [...emb[i]]);
  const S = ids.length;
  const rope = (v: number[], pos: number) => {
    const half = hd / 2;
    return v.map((x, i) => {
      const j = i % half;
      const ang = pos * Math.pow(c.ropeTheta, -(2 * j) / hd);
      const rot = i < half ? -v[i + half] : v[i - half];
      return x * Math.cos(ang) + rot * Math.sin(ang);
    });
  };
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `model.layers.${l}.`;
    const x = rms(h, get(m, `${p}input_layernorm.weight`)[0], c.rmsNormEps);
    const bias = (n: string) => (c.attentionBias ? get(m, `${p}self_attn.${n}.bias`)[0] : undefined);
    const q = lin(x, get(m, `${p}self_attn.q_proj.weight`), bias("q_proj"));
    const k = lin(x, get(m, `${p}self_attn.k_proj.weight`), bias("k_proj"));
    const v = lin(x, get(m, `${p}self_attn.v_proj.weight`), bias("v_proj"));
    const ctx: M = Array.from({ length: S }, () => new Array(c.numAttentionHeads * hd).fill(0));
    for (let head = 0; head < c.numAttentionHeads; head++) {
      const kvh = Math.floor(head / (c.numAttentionHeads / c.numKeyValueHeads)); // repeat_kv
      for (let t = 0; t < S; t++) {
        const qt = rope(q[t].slice(head * hd, (head + 1) * hd), t);
        const scores = [];
        for (let u = 0; u <= t; u++) {
          const ku = rope(k[u].slice(kvh * hd, (kvh + 1) * hd), u);
          scores.push(qt.reduce((a, qv, i) => a + qv * ku[i], 0) / Math.sqrt(hd));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let u = 0; u <= t; u++) for (let i = 0; i < hd; i++) ctx[t][head * hd + i] += (e[u] / z) * v[u][kvh * hd + i];
      }
    }
    const a = lin(ctx, get(m, `${p}self_attn.o_proj.weight`));
    h = h.map((r, t) => r.map((val, i) => val + a[t][i]));
    const y = rms(h, get(m, `${p}post_attention_layernorm.weight`)[0], c.rmsNormEps);
    const g = lin(y, get(m, `${p}mlp.gate_proj.weight`));
    const up = lin(y, get(m, `${p}mlp.up_proj.weight`));
    const act = g.map((r, t) => r.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[t][i]));
    const d = lin(act, get(m, `${p}mlp.down_proj.weight`));
    h = h.map((r, t) => r.map((val, i) => val + d[t][i]));
  }
  const fin = rms(h, get(m, "model.norm.weight")[0], c.rmsNormEps);
  return lin(fin, get(m, c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"));
}

function maxDiff(logits: tf.Tensor3D, batchIds: number[][], m: LlamaModel): number {
  const got = logits.arraySync();
  let d = 0;
  batchIds.forEach((ids, b) => {
    const ref = reference(m, ids);
    ref.forEach((row, t) => row.forEach((v, i) => (d = Math.max(d, Math.abs(v - got[b][t][i])))));
  });
  return d;
}

const cases = [
  { name: "Llama, GQA 4:2, tied", opts: { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 40, vocab: 50, seed: 3 } },
  { name: "multi-head (kv = heads), untied", opts: { layers: 1, hidden: 16, heads: 2, kvHeads: 2, intermediate: 24, vocab: 30, seed: 4, config: { tieWordEmbeddings: false } } },
  { name: "Qwen2 q/k/v bias, MQA, theta 1e6", opts: { layers: 2, hidden: 24, heads: 3, kvHeads: 1, intermediate: 20, vocab: 40, seed: 5, config: { architecture: "Qwen2ForCausalLM" as const, attentionBias: true, ropeTheta: 1e6 } } },
];

for (const { name, opts } of cases)
  test(`forward matches a naive reference: ${name}`, () => {
    const m = tinyLlama(opts);
    const ids = [
      [1, 5, 9, 3, 7, 2, 8, 4, 6, 11, 0, 12],
      [3, 3, 3, 1, 2, 10, 13, 4, 4, 7, 9, 1],
    ];
    const logits = forward(m, tf.tensor2d(ids, undefined, "int32"));
    const d = maxDiff(logits, ids, m);
    assert.ok(d < 2e-4, `max |Δlogit| = ${d}`);
    tf.dispose([logits, ...m.weights.values()]);
  });

test("no tensor leaks: forward and gradients through masks", () => {
  const m = tinyLlama({ seed: 7 });
  const ids = tf.tensor2d([[1, 4, 6, 8, 3, 2, 9, 5]], undefined, "int32");
  forward(m, ids).dispose(); // builds the per-length caches
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) forward(m, ids).dispose();
  assert.equal(tf.memory().numTensors, before);
  const names = linearWeightNames(m.config);
  const masks = new Map(names.map((n) => [n, tf.variable(tf.onesLike(m.weights.get(n)!) as tf.Tensor2D)]));
  const afterVars = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => nextTokenNll(m, ids, { mask: (n) => masks.get(n) }), [...masks.values()]);
  assert.equal(Object.keys(grads).length, names.length, "every mask gets a gradient");
  for (const g of Object.values(grads)) assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0);
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, afterVars);
  tf.dispose([ids, ...masks.values(), ...m.weights.values()]);
});

test("mask gradient equals a finite difference", () => {
  const m = tinyLlama({ seed: 11, layers: 1 });
  const ids = tf.tensor2d([[2, 7, 1, 9, 4, 4, 12, 30]], undefined, "int32");
  const name = "model.layers.0.mlp.up_proj.weight";
  const shape = m.weights.get(name)!.shape as [number, number];
  const base = tf.randomUniform(shape, 0.2, 1, "float32", 1) as tf.Tensor2D;
  const loss = (mask: tf.Tensor2D) => nextTokenNll(m, ids, { mask: (n) => (n === name ? mask : undefined) });
  const g = tf.grad((mk: tf.Tensor) => loss(mk as tf.Tensor2D))(base);
  const [r, c] = [3, 5];
  const eps = 1e-2;
  const bump = (s: number) => {
    const b = base.bufferSync();
    const cp = tf.buffer(shape, "float32", Float32Array.from(b.values));
    cp.set(b.get(r, c) + s, r, c);
    return tf.tidy(() => loss(cp.toTensor() as tf.Tensor2D).dataSync()[0]);
  };
  const fd = (bump(eps) - bump(-eps)) / (2 * eps);
  const an = g.bufferSync().get(r, c);
  assert.ok(Math.abs(fd - an) < 1e-3 + 0.05 * Math.abs(fd), `analytic ${an} vs finite difference ${fd}`);
  tf.dispose([ids, base, g, ...m.weights.values()]);
});

test("a zero mask equals a zeroed weight; onLinearInput sees every linear's input", () => {
  const m = tinyLlama({ seed: 2 });
  const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], undefined, "int32");
  const name = "model.layers.1.self_attn.k_proj.weight";
  const w = m.weights.get(name)!;
  const zero = tf.zerosLike(w) as tf.Tensor2D;
  const seen = new Map<string, number[]>();
  const masked = forward(m, ids, { mask: (n) => (n === name ? zero : undefined), onLinearInput: (n, x) => seen.set(n, x.shape) });
  m.weights.set(name, zero);
  const zeroed = forward(m, ids);
  m.weights.set(name, w);
  assert.ok(tf.max(tf.abs(tf.sub(masked, zeroed))).dataSync()[0] < 1e-6);
  assert.deepEqual([...seen.keys()], linearWeightNames(m.config));
  assert.deepEqual(seen.get("model.layers.0.mlp.down_proj.weight"), [12, m.config.intermediateSize]);
  tf.dispose([ids, zero, masked, zeroed, ...m.weights.values()]);
});

test("wasm kernel shims: slice/split/unstack/gather match the cpu backend; gather has a gradient", async () => {
  const x = tf.randomNormal([3, 4, 5, 6], 0, 1, "float32", 9);
  const data = x.arraySync();
  const ops = (t: tf.Tensor) => [
    tf.slice(t, [1, 1, 2, 3], [2, 2, 3, 2]),
    tf.slice(t, [1, 0, 0, 0], [1, 4, 5, 6]),
    ...tf.split(t, [2, 4], -1),
    ...tf.unstack(t, 1),
    tf.gather(t, tf.tensor2d([[2, 0], [1, 2]], [2, 2], "int32")), // whole rows: the shim
    tf.gather(tf.cast(t, "int32"), tf.tensor1d([1, 1, 0], "int32")),
    tf.gather(t, tf.tensor1d([3, 0], "int32"), 2), // another axis: the backend's own kernel
    tf.grad((e: tf.Tensor) => tf.sum(tf.mul(tf.gather(e, tf.tensor1d([2, 0, 2], "int32")), tf.range(0, 30).reshape([1, 5, 6]))))(tf.reshape(t, [12, 5, 6])),
  ];
  const wasm = ops(x).map((t) => t.arraySync());
  await tf.setBackend("cpu");
  const cpu = ops(tf.tensor(data)).map((t) => t.arraySync());
  await tf.setBackend("wasm");
  assert.deepEqual(wasm, cpu);
});

test("wasm Transpose shim matches the cpu backend for 2-D, merged and strided permutations, float32 and int32", async () => {
  const cases: [number[], number[]][] = [
    [[37, 13], [1, 0]],
    [[4, 6, 3, 5], [0, 2, 1, 3]],
    [[4, 3, 6, 5], [0, 1, 3, 2]],
    [[3, 1, 4, 5], [2, 0, 3, 1]],
    [[2, 3, 4, 5, 6], [4, 2, 0, 3, 1]],
    [[2, 3, 4], [1, 2, 0]],
    [[2, 3, 4], [0, 1, 2]],
    [[1, 5], [1, 0]],
    [[7], [0]],
  ];
  const inputs = cases.map(([shape], i) => tf.randomNormal(shape, 0, 10, "float32", i).arraySync());
  const run = () =>
    cases.map(([, perm], i) => {
      const x = tf.tensor(inputs[i] as number[]);
      return [tf.transpose(x, perm).arraySync(), tf.transpose(tf.cast(x, "int32"), perm).arraySync()];
    });
  const wasm = run();
  await tf.setBackend("cpu");
  const cpu = run();
  await tf.setBackend("wasm");
  assert.deepEqual(wasm, cpu);
});

test("matMul2d's gradients equal matMul's in both orientations (wide and tall operands)", async () => {
  const { matMul2d } = await import("../../../src/maskllm/llama/matmul.js");
  // [512, 8]·[8, 256] and [512, 256]·[256, 8]: the cost model picks the other transposition for each side
  for (const [m, k, n] of [[64, 4, 32], [64, 32, 4], [5, 7, 3]]) {
    const a = tf.randomNormal([m, k], 0, 1, "float32", m);
    const b = tf.randomNormal([k, n], 0, 1, "float32", n);
    const w = tf.randomNormal([m, n], 0, 1, "float32", k);
    const f = (mm: (x: tf.Tensor2D, y: tf.Tensor2D) => tf.Tensor2D) => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(mm(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    const [ga, gb] = f(matMul2d);
    const [ea, eb] = f((x, y) => tf.matMul(x, y));
    assert.ok(tf.max(tf.abs(tf.sub(ga, ea))).dataSync()[0] < 1e-4, `dA for ${m}x${k}x${n}`);
    assert.ok(tf.max(tf.abs(tf.sub(gb, eb))).dataSync()[0] < 1e-4, `dB for ${m}x${k}x${n}`);
    assert.deepEqual(matMul2d(a as tf.Tensor2D, b as tf.Tensor2D).shape, [m, n]);
  }
  assert.throws(() => matMul2d(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D), /do not multiply/);
});

test("attend's flash-attention backward equals autograd through matMul and softmax (grouped queries, causal mask)", async () => {
  const { attend } = await import("../../../src/maskllm/llama/attend.js");
  const { causalMask } = await import("../../../src/maskllm/llama/causal-mask.js");
  const [g, seq, hd] = [2, 7, 4];
  const q = tf.randomNormal([g * seq, hd], 0, 1, "float32", 1) as tf.Tensor2D;
  const kT = tf.randomNormal([hd, seq], 0, 1, "float32", 2) as tf.Tensor2D;
  const v = tf.randomNormal([seq, hd], 0, 1, "float32", 3) as tf.Tensor2D;
  const w = tf.randomNormal([g * seq, hd], 0, 1, "float32", 4);
  const mask = causalMask(seq, g);
  const loss = (f: (a: tf.Tensor2D, b: tf.Tensor2D, c: tf.Tensor2D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D), w));
  const fused = tf.grads(loss((a, b, c) => attend(a, b, c, mask)))([q, kT, v]);
  const plain = tf.grads(loss((a, b, c) => tf.matMul(tf.softmax(tf.add(tf.matMul(a, b), mask)), c)))([q, kT, v]);
  assert.ok(tf.max(tf.abs(tf.sub(attend(q, kT, v, mask), tf.matMul(tf.softmax(tf.add(tf.matMul(q, kT), mask)), v)))).dataSync()[0] < 1e-6);
  fused.forEach((gr, i) => {
    assert.deepEqual(gr.shape, plain[i].shape);
    assert.ok(tf.max(tf.abs(tf.sub(gr, plain[i]))).dataSync()[0] < 1e-5, `gradient of input ${i}`);
  });
});
