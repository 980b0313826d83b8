// Data-parallel training on the TF.js path (engine: "tf"; the host path's threads are op-pool.test.ts):
// micro-batches on worker threads give the same logits, bit for bit, as the same run on one
// thread; the closed-form logits gradient equals autograd through the Gumbel-softmax; a failing thread fails the run.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../src/maskllm/backend.js";
import { trainMasks } from "../../src/maskllm/train/loop.js";
import { logitsGradient, sampleMasks, splitBatch, type MaskContext } from "../../src/maskllm/train/micro-batch.js";
import { candidateMatrix } from "../../src/maskllm/mask/patterns.js";
import { gumbelSoftmax } from "../helpers/gumbel-reference.js";
import { ReplicaError, ThreadReplicas } from "../../src/parallel/thread-replicas.js";
import { tinyLlama, tinyWindows } from "../helpers/tiny-llama.js";

const tinyModel = () => tinyLlama({ hidden: 16, intermediate: 24, vocab: 32 });
const windows = tinyWindows(12, 16, 32);

before(async () => {
  await initBackend("wasm");
});

test("splitBatch cuts a batch into near-equal parts whose weights sum to one", () => {
  const ids = Int32Array.from({ length: 7 * 3 }, (_, i) => i);
  const parts = splitBatch(ids, 7, 3, 3);
  assert.deepEqual(parts.map((p) => p.windows), [3, 2, 2]);
  assert.deepEqual(Array.from(parts[1].ids), [9, 10, 11, 12, 13, 14]);
  assert.ok(Math.abs(parts.reduce((a, p) => a + p.weight, 0) - 1) < 1e-12);
  assert.equal(splitBatch(ids, 7, 3, 9).length, 7); // never more parts than windows
});

test("the closed-form logits gradient equals autograd through Gumbel-softmax and the regulariser (soft and hard)", () => {
  for (const hard of [false, true]) {
    const groups = [5, 3];
    const S = candidateMatrix({ n: 2, m: 4 });
    const w2 = tf.randomUniform([8, 4], 0, 2, "float32", 3) as tf.Tensor2D;
    const ctx = { groups, candidates: S, weightSquared: w2, hard } as unknown as MaskContext;
    const logits = tf.randomNormal([8, 6], 0, 0.05, "float32", 4) as tf.Tensor2D;
    const noise = tf.randomNormal([8, 6], 0, 1, "float32", 5) as tf.Tensor2D;
    const upstream = tf.randomNormal([8, 4], 0, 1, "float32", 6) as tf.Tensor2D; // ∂LM/∂M̃
    const sch = { kappa: 150, tau: 2.5, lambda: 0.3 };
    const { probs, masks } = sampleMasks(ctx, logits, noise, sch);
    const closed = logitsGradient(ctx, probs, masks, upstream, sch);
    const auto = tf.grad((l: tf.Tensor) => {
      const m = tf.matMul(gumbelSoftmax(l as tf.Tensor2D, noise, sch.kappa, sch.tau, hard), S);
      return tf.sub(tf.sum(tf.mul(m, upstream)), tf.mul(tf.sum(tf.mul(w2, tf.square(m))), sch.lambda));
    })(logits);
    const err = tf.max(tf.abs(tf.sub(closed.grad, auto))).dataSync()[0];
    const scale = tf.max(tf.abs(auto)).dataSync()[0];
    assert.ok(scale > 1e-3 && err < 1e-4 * scale, `hard=${hard}: closed form off by ${err} (scale ${scale})`);
    tf.dispose([S, w2, logits, noise, upstream, probs, masks, closed.grad, closed.reg, closed.maxProb, auto]);
  }
});

test("micro-batches on a worker thread train bit-identically to the same run on one thread, without leaking tensors", async () => {
  const model = tinyModel();
  const options = { steps: 6, batchSize: 4, microBatches: 2, seed: 3, progressEvery: 2 };
  const single = await trainMasks({ model, windows, options, engine: "tf" });
  const before = tf.memory().numTensors; // after the first run: RoPE tables and causal masks are cached per process
  const replicas = await ThreadReplicas.start(model, 1, "wasm");
  try {
    assert.equal(replicas.parallelism, 1);
    const threaded = await trainMasks({ model, windows, options, replicas, engine: "tf" });
    assert.equal(tf.memory().numTensors, before);
    for (const [name, l] of single.logits) assert.deepEqual(threaded.logits.get(name), l, name);
    assert.ok(threaded.timing.steps === 6 && threaded.last!.lmLoss === single.last!.lmLoss);
  } finally {
    await replicas.close();
  }
  // the comparison can fail: one micro-batch is another float32 computation of the same gradient
  const whole = await trainMasks({ model, windows, options: { ...options, microBatches: 1 }, engine: "tf" });
  const name = single.targets[0].name;
  assert.notDeepEqual(whole.logits.get(name), single.logits.get(name));
  for (const t of model.weights.values()) t.dispose();
});

test("a training thread that dies fails the run with its reason", async () => {
  const model = tinyModel();
  const replicas = await ThreadReplicas.start(model, 1, "wasm");
  try {
    // kill the thread outright, as an out-of-memory abort would
    (replicas as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads[0].worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(trainMasks({ model, windows, options: { steps: 2, batchSize: 4, microBatches: 2 }, replicas, engine: "tf" }), (e: unknown) => e instanceof ReplicaError && /exited/.test(e.message));
  } finally {
    await replicas.close();
    for (const t of model.weights.values()) t.dispose();
  }
});
