// The host trainer's threads: every large op split over an OpPool gives the same logits, bit for bit, as one
// thread; buffers are shared, not copied; a failing or stopped thread fails the run with a reason instead of
// hanging it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../src/maskllm/backend.js";
import { trainMasks } from "../../src/maskllm/train/loop.js";
import { claim, claimWord, OpPool, OpPoolError } from "../../src/parallel/op-pool.js";
import { InlineExecutor } from "../../src/maskllm/host/ops.js";
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

test("a pool thread that stops is reported once its exit is seen, and until then the op runs on the threads left", async () => {
  const stopped = async () => {
    const pool = await OpPool.start(2, { stallMs: 1500 });
    await (pool as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0].terminate();
    return { pool, x: pool.f32(4096 * 64), w: pool.f32(64 * 64), y: pool.f32(4096 * 64) };
  };
  // its exit seen (the event loop ran since): the next op fails at once
  let { pool, x, w, y } = await stopped();
  try {
    assert.throws(() => pool.run({ kind: "linear", x, w, y, tokens: 4096, inDim: 64, outDim: 64 }), (e: unknown) => e instanceof OpPoolError && /training thread 1 stopped/.test(e.message));
    assert.throws(() => pool.run({ kind: "linear", x, w, y, tokens: 4096, inDim: 64, outDim: 64 }), /closed/);
  } finally {
    await pool.close();
  }
  // its exit not yet seen: it claims nothing, and the op is done by the threads left, values unchanged
  ({ pool, x, w, y } = await stopped());
  try {
    (pool as unknown as { exited?: string }).exited = undefined;
    x.forEach((_, i) => (x[i] = Math.sin(i)));
    w.forEach((_, i) => (w[i] = Math.cos(i)));
    const want = new Float32Array(y.length);
    new InlineExecutor().run({ kind: "linear", x, w, y: want, tokens: 4096, inDim: 64, outDim: 64 });
    pool.run({ kind: "linear", x, w, y, tokens: 4096, inDim: 64, outDim: 64 });
    assert.deepEqual(y, want);
  } finally {
    await pool.close();
  }
});

test("claims cover every atom once, from both ends, large first, and none of an op that is over", () => {
  for (const [atoms, threads] of [[1, 2], [2, 2], [85, 2], [1000, 3], [0xffff, 4]]) {
    const word = new BigInt64Array(1);
    word[0] = claimWord(7, 0, atoms);
    const seen = new Uint8Array(atoms);
    const sizes: number[] = [];
    for (let turn = 0; ; turn++) {
      const c = claim(word, 7, threads, turn % threads !== 0);
      if (!c) break;
      sizes.push(c[1] - c[0]);
      for (let a = c[0]; a < c[1]; a++) seen[a]++;
    }
    assert.ok(seen.every((n) => n === 1), `${atoms} atoms, ${threads} threads`);
    assert.ok(sizes[0] >= sizes[sizes.length - 1]);
    assert.ok(sizes.length <= 8 * threads * Math.log2(atoms + 2), `${sizes.length} claims for ${atoms} atoms`);
  }
  const word = new BigInt64Array(1);
  word[0] = claimWord(8, 0, 10);
  assert.equal(claim(word, 7, 2, true), undefined);
  assert.deepEqual(claim(word, 8, 2, false), [0, 3]);
  assert.deepEqual(claim(word, 8, 2, true), [8, 10]);
});

test("an op whose text outgrows the shared slot (thousands of targets) gets a larger one, and the same values", async () => {
  const pool = await OpPool.start(2);
  try {
    const targets = 6000;
    const groups = Array.from({ length: targets }, (_, i) => 1 + (i % 7));
    const offsets = groups.map((_, i) => groups.slice(0, i).reduce((a, b) => a + b, 0));
    const total = groups.reduce((a, b) => a + b, 0);
    const [c, m] = [6, 4];
    const s = Float32Array.from([1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1]);
    const logits = pool.f32(total * c);
    logits.forEach((_, i) => (logits[i] = Math.sin(i)));
    const op = (probs: Float32Array, dProbs: Float32Array) =>
      ({ kind: "sample", logits, probs, dProbs, offsets, groups, seeds: groups.map((_, i) => 1000 + i), invTau: 0.25, scale: 25, hard: false, s, c, m }) as const;
    const { offsets: o, groups: g, seeds } = op(logits, logits);
    assert.ok(JSON.stringify({ o, g, seeds }).length > 65536, "the op's text is larger than the first slot");
    const [want, wantD] = [new Float32Array(total * c), new Float32Array(total * c).fill(1)];
    new InlineExecutor().run(op(want, wantD));
    const [got, gotD] = [pool.f32(total * c), pool.f32(total * c)];
    gotD.fill(1);
    pool.run(op(got, gotD));
    assert.deepEqual(got, want);
    assert.deepEqual(gotD, wantD);
  } finally {
    await pool.close();
  }
});
