// The host trainer's threads: every large op split over an OpPool gives the same logits, bit for bit, as one
// thread; buffers are shared, not copied; a failing or stopped thread fails the run with a reason instead of
// hanging it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../src/maskllm/backend.js";
import { trainMasks } from "../../src/maskllm/train/loop.js";
import { OpPool, OpPoolError } from "../../src/parallel/op-pool.js";
import { tinyLlama } from "../helpers/tiny-llama.js";

before(async () => {
  await initBackend("wasm");
});

const windows = Array.from({ length: 8 }, (_, w) => Int32Array.from({ length: 32 }, (_, i) => (w * 7 + i * 13) % 128));

test("training on an OpPool of 2 and 3 threads is bit-identical to one thread", async () => {
  // big enough that products, attention, loss and the mask step are all split (ops above the pool's threshold)
  const model = tinyLlama({ layers: 2, hidden: 128, heads: 8, kvHeads: 4, intermediate: 256, vocab: 128, seed: 9 });
  const options = { steps: 3, batchSize: 8, microBatches: 2, seed: 4, progressEvery: 1 };
  try {
    const single = await trainMasks({ model, windows, options });
    for (const threads of [2, 3]) {
      const pool = await OpPool.start(threads);
      try {
        assert.equal(pool.threads, threads);
        const a = pool.f32(4);
        assert.ok(a.buffer instanceof SharedArrayBuffer && pool.shares(a) && !pool.shares(new Float32Array(4)));
        const r = await trainMasks({ model, windows, options, executor: pool });
        for (const [name, l] of single.logits) assert.deepEqual(r.logits.get(name), l, `${threads} threads: ${name}`);
        assert.equal(r.last!.lmLoss, single.last!.lmLoss);
      } finally {
        await pool.close();
      }
    }
  } finally {
    for (const t of model.weights.values()) t.dispose();
  }
});

test("an op that fails on a pool thread fails the run with the thread's reason", async () => {
  const pool = await OpPool.start(2);
  try {
    const x = pool.f32(4096 * 64);
    const w = pool.f32(64 * 64);
    const y = pool.f32(10); // too small for [4096, 64]: the thread's part throws
    assert.throws(() => pool.run({ kind: "linear", x, w, y, tokens: 4096, inDim: 64, outDim: 64 }), (e: unknown) => e instanceof Error && /linearForward: y has/.test(e.message));
  } finally {
    await pool.close();
  }
});

test("a pool thread that stops is reported, not waited for forever", async () => {
  const pool = await OpPool.start(2, { stallMs: 1500 });
  try {
    await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0].terminate();
    const x = pool.f32(4096 * 64);
    const w = pool.f32(64 * 64);
    const y = pool.f32(4096 * 64);
    const t0 = Date.now();
    assert.throws(() => pool.run({ kind: "linear", x, w, y, tokens: 4096, inDim: 64, outDim: 64 }), (e: unknown) => e instanceof OpPoolError && /did not finish its part of linear/.test(e.message));
    assert.ok(Date.now() - t0 < 10_000);
    assert.throws(() => pool.run({ kind: "linear", x, w, y, tokens: 4096, inDim: 64, outDim: 64 }), /closed/);
  } finally {
    await pool.close();
  }
});
