// The fused ops (WebAssembly kernels) against the composite TF.js paths they replace on wasm and cpu. Attention
// (RoPE + causal grouped-query): outputs and the gradients of x and of every mask, for head sizes that take the
// kernel's eight-component blocks, its one-component remainder and both, sequence lengths on and off its blocks of
// four keys, and 1, 2 and 4 query heads per kv head; leaks; shape errors. RMSNorm and SwiGLU: values and gradients.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { compositeSelfAttention, selfAttention } from "../../../src/maskllm/llama/attention.js";
import { fusedKernelsSupported } from "../../../src/maskllm/kernels/fused-kernel.js";
import { attentionForward, AttentionShapeError } from "../../../src/maskllm/kernels/attention-module.js";
import { ropeTableValues } from "../../../src/maskllm/llama/rope.js";
import { tinyLlama } from "../../helpers/tiny-llama.js";

await initBackend("wasm");

const CASES = [
  { name: "headDim 8, 2 queries per kv head, seq 37", hidden: 64, heads: 8, kvHeads: 4, seq: 37, batch: 2 },
  { name: "headDim 4 (remainder only), seq 1", hidden: 16, heads: 4, kvHeads: 2, seq: 1, batch: 3 },
  { name: "headDim 6, 4 queries per kv head, seq 9", hidden: 24, heads: 4, kvHeads: 1, seq: 9, batch: 2 },
  { name: "headDim 20 (blocks and remainder), no grouping, seq 16", hidden: 40, heads: 2, kvHeads: 2, seq: 16, batch: 2 },
];

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const maxOf = (a: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);

function compare(c: (typeof CASES)[number]) {
  const model = tinyLlama({ hidden: c.hidden, heads: c.heads, kvHeads: c.kvHeads, layers: 1, seed: c.seq });
  const p = "model.layers.0.self_attn";
  const names = ["q_proj", "k_proj", "v_proj", "o_proj"].map((n) => `${p}.${n}.weight`);
  const x = tf.randomNormal([c.batch * c.seq, c.hidden], 0, 1, "float32", 7) as tf.Tensor2D;
  const masks = names.map((n, i) => tf.randomUniform(model.weights.get(n)!.shape as [number, number], 0, 1, "float32", i) as tf.Tensor2D);
  const w = tf.randomNormal([c.batch * c.seq, c.hidden], 0, 1, "float32", 11);
  const run = (attn: typeof selfAttention) =>
    tf.tidy(() => {
      const f = (xi: tf.Tensor, ...ms: tf.Tensor[]) =>
        tf.sum(tf.mul(attn(model, 0, xi as tf.Tensor2D, c.batch, c.seq, { mask: (n) => ms[names.indexOf(n)] as tf.Tensor2D | undefined }), w));
      const out = attn(model, 0, x, c.batch, c.seq, { mask: (n) => masks[names.indexOf(n)] });
      return [out, ...tf.grads(f)([x, ...masks])];
    });
  const fused = run(selfAttention);
  const composite = run(compositeSelfAttention);
  fused.forEach((t, i) => {
    assert.deepEqual(t.shape, composite[i].shape);
    const err = maxAbs(t, composite[i]);
    assert.ok(err <= 2e-5 * Math.max(1, maxOf(composite[i])), `${i === 0 ? "output" : i === 1 ? "dx" : `d(mask of ${names[i - 2]})`}: max error ${err}`);
  });
  tf.dispose([x, w, ...masks, ...fused, ...composite, ...model.weights.values()]);
}

for (const c of CASES)
  test(`fused causal attention equals the composite path on wasm: ${c.name}`, () => {
    assert.ok(fusedKernelsSupported());
    compare(c);
  });

test("fused causal attention equals the composite path on the cpu backend", async () => {
  await tf.setBackend("cpu");
  try {
    assert.ok(fusedKernelsSupported());
    compare(CASES[0]);
  } finally {
    await tf.setBackend("wasm");
  }
});

test("the fused op leaks no tensors, forward or backward", () => {
  const model = tinyLlama({ hidden: 32, heads: 4, kvHeads: 2, layers: 1 });
  const x = tf.randomNormal([2 * 11, 32], 0, 1, "float32", 1) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  tf.dispose(selfAttention(model, 0, x, 2, 11));
  tf.dispose(tf.grad((xi: tf.Tensor) => tf.sum(selfAttention(model, 0, xi as tf.Tensor2D, 2, 11)))(x));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, ...model.weights.values()]);
});

test("the attention kernel refuses inconsistent shapes and sizes", () => {
  const rope = (seq: number, hd: number) => {
    const t = ropeTableValues(seq, { headDim: hd, ropeTheta: 10000, maxPositionEmbeddings: seq });
    return { cosQ: t.cos, sinQ: t.sin, cosK: t.cos, sinK: t.sin };
  };
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => attentionForward({ batch: 1, seq: 2, heads: 3, kvHeads: 2, headDim: 4 }, f(24), f(16), f(16), rope(2, 4), f(24), f(6)), AttentionShapeError);
  assert.throws(() => attentionForward({ batch: 1, seq: 2, heads: 2, kvHeads: 1, headDim: 3 }, f(12), f(6), f(6), rope(2, 3), f(12), f(4)), /even head dimension/);
  assert.throws(() => attentionForward({ batch: 1, seq: 2, heads: 2, kvHeads: 1, headDim: 4 }, f(15), f(8), f(8), rope(2, 4), f(16), f(4)), /q has 15 values, expected 16/);
});

test("fused RMSNorm and SwiGLU equal their TF.js compositions, values and gradients (widths on and off four lanes)", async () => {
  const { rmsNorm, compositeRmsNorm } = await import("../../../src/maskllm/llama/rms-norm.js");
  const { swiglu, compositeSwiglu } = await import("../../../src/maskllm/llama/mlp.js");
  for (const [rows, n] of [[37, 64], [5, 6], [3, 1]]) {
    const x = tf.randomNormal([rows, n], 0, 2, "float32", n) as tf.Tensor2D;
    const w = tf.randomNormal([n], 1, 0.3, "float32", rows) as tf.Tensor1D;
    const up = tf.randomNormal([rows, n], 0, 1, "float32", 3) as tf.Tensor2D;
    const dy = tf.randomNormal([rows, n], 0, 1, "float32", 4);
    const norm = (f: typeof rmsNorm) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b as tf.Tensor1D, 1e-5), dy)))([x, w]);
    const act = (f: typeof swiglu) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), dy)))([x, up]);
    const pairs: [tf.Tensor, tf.Tensor, string][] = [
      [rmsNorm(x, w, 1e-5), compositeRmsNorm(x, w, 1e-5), "rmsNorm"],
      ...norm(rmsNorm).map((g, i) => [g, norm(compositeRmsNorm)[i], `rmsNorm d${i ? "weight" : "x"}`] as [tf.Tensor, tf.Tensor, string]),
      [swiglu(x, up), compositeSwiglu(x, up), "swiglu"],
      ...act(swiglu).map((g, i) => [g, act(compositeSwiglu)[i], `swiglu d${i ? "up" : "gate"}`] as [tf.Tensor, tf.Tensor, string]),
    ];
    for (const [a, b, what] of pairs) {
      assert.deepEqual(a.shape, b.shape, what);
      assert.ok(maxAbs(a, b) <= 2e-5 * Math.max(1, maxOf(b)), `${what} [${rows}, ${n}]: max error ${maxAbs(a, b)}`);
    }
    tf.dispose([x, w, up, dy, ...pairs.flatMap(([a, b]) => [a, b])]);
  }
  // large activations saturate σ without NaN (exp4 clamps its input)
  const big = tf.tensor2d([[-200, -90, 90, 200]]);
  const ones = tf.onesLike(big) as tf.Tensor2D;
  const fused = Array.from(swiglu(big, ones).dataSync());
  const plain = Array.from(compositeSwiglu(big, ones).dataSync());
  fused.forEach((v, i) => assert.ok(Math.abs(v - plain[i]) <= 1e-30 + 1e-6 * Math.abs(plain[i]), `swiglu(${big.dataSync()[i]}) = ${v}, expected ${plain[i]}`));
});

test("maskedLinear equals x·(w ⊙ m)ᵀ through TF.js ops, values and the gradients of x, weight and mask (widths off the 4×8 blocks)", async () => {
  const { maskedLinear, maskedLinearSupported } = await import("../../../src/maskllm/llama/masked-linear.js");
  const { maskedWeightGrad } = await import("../../../src/maskllm/kernels/matmul-module.js");
  for (const [tokens, inDim, outDim] of [[37, 64, 172], [9, 12, 7], [5, 4, 1], [16, 8, 4], [6, 10, 5], [3, 3, 9]]) {
    const x = tf.randomNormal([tokens, inDim], 0, 1, "float32", inDim) as tf.Tensor2D;
    const w = tf.randomNormal([outDim, inDim], 0, 1, "float32", outDim) as tf.Tensor2D;
    const m = tf.randomUniform([outDim, inDim], 0, 1, "float32", tokens) as tf.Tensor2D;
    const dy = tf.randomNormal([tokens, outDim], 0, 1, "float32", 5);
    assert.ok(maskedLinearSupported(w, x));
    const f = (lin: (a: tf.Tensor2D, b: tf.Tensor2D, c: tf.Tensor2D) => tf.Tensor2D) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(lin(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D), dy)))([x, w, m]);
    const composite = (a: tf.Tensor2D, b: tf.Tensor2D, c: tf.Tensor2D) => tf.matMul(a, tf.mul(b, c), false, true) as tf.Tensor2D;
    const pairs: [tf.Tensor, tf.Tensor, string][] = [[maskedLinear(x, w, m), composite(x, w, m), "y"]];
    const got = f(maskedLinear);
    const want = f(composite);
    ["dx", "dweight", "dmask"].forEach((n, i) => pairs.push([got[i], want[i], n]));
    for (const [a, b, what] of pairs) {
      assert.deepEqual(a.shape, b.shape, what);
      assert.ok(maxAbs(a, b) <= 1e-5 * Math.max(1, maxOf(b)), `${what} [${tokens}, ${inDim}]→${outDim}: max error ${maxAbs(a, b)}`);
    }
    tf.dispose([x, w, m, dy, ...pairs.flatMap(([a, b]) => [a, b])]);
  }
  // only the gradients asked for are computed: a mask-only gradient never forms dx
  const x = tf.randomNormal([8, 16]) as tf.Tensor2D;
  const w = tf.randomNormal([4, 16]) as tf.Tensor2D;
  const m = tf.onesLike(w) as tf.Tensor2D;
  const prof = await tf.profile(() => tf.grad((mi: tf.Tensor) => tf.sum(maskedLinear(x, w, mi as tf.Tensor2D)))(m));
  assert.ok(!prof.kernelNames.includes("MaskforgeMatMul2d"), `kernels run: ${prof.kernelNames.join(", ")}`);
  assert.throws(() => maskedWeightGrad(new Float32Array(6), new Float32Array(2), new Float32Array(6), 2, 3, 1, new Float32Array(3)), /w has 6 values, expected 3/);
  tf.dispose([x, w, m]);
});

test("matMul2d's WebAssembly GEMM equals tf.matMul on the cpu backend for shapes on and off its 4×8 blocks", async () => {
  const { matMul2d } = await import("../../../src/maskllm/llama/matmul.js");
  const shapes = [[1024, 64, 172], [37, 5, 13], [1, 3, 2], [4, 1, 8], [6, 9, 3], [3, 64, 512]];
  const inputs = shapes.map(([m, k, n], i) => [tf.randomNormal([m, k], 0, 1, "float32", i).arraySync(), tf.randomNormal([k, n], 0, 1, "float32", i + 50).arraySync()] as number[][][]);
  const ours = inputs.map(([a, b]) => matMul2d(tf.tensor2d(a), tf.tensor2d(b)).arraySync() as number[][]);
  await tf.setBackend("cpu");
  try {
    inputs.forEach(([a, b], i) => {
      const want = tf.matMul(tf.tensor2d(a), tf.tensor2d(b)).arraySync() as number[][];
      const err = want.reduce((e, row, r) => row.reduce((x, v, c) => Math.max(x, Math.abs(v - ours[i][r][c])), e), 0);
      assert.ok(err < 1e-4, `[${shapes[i]}]: max error ${err}`);
    });
  } finally {
    await tf.setBackend("wasm");
  }
});

test("the fused next-token cross-entropy equals the TF.js one, loss and gradient", async () => {
  const { nextTokenLoss, compositeNextTokenLoss } = await import("../../../src/maskllm/train/loss.js");
  for (const [b, t, v] of [[3, 7, 16], [1, 2, 512], [2, 33, 4]]) {
    const logits = tf.randomNormal([b, t, v], 0, 3, "float32", v) as tf.Tensor3D;
    const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 7 + 3) % v);
    const f = (loss: typeof nextTokenLoss) => tf.valueAndGrad((x: tf.Tensor) => loss(x as tf.Tensor3D, ids))(logits);
    const got = f(nextTokenLoss);
    const want = f(compositeNextTokenLoss);
    assert.ok(Math.abs(got.value.dataSync()[0] - want.value.dataSync()[0]) < 1e-5 * Math.max(1, Math.abs(want.value.dataSync()[0])), `loss [${b}, ${t}, ${v}]`);
    assert.deepEqual(got.grad.shape, want.grad.shape);
    assert.ok(maxAbs(got.grad, want.grad) < 1e-6, `gradient [${b}, ${t}, ${v}]: ${maxAbs(got.grad, want.grad)}`);
    tf.dispose([logits, got.value, got.grad, want.value, want.grad]);
  }
});
