// MaskLLM training on the host trainer with the native linear products on: its logits and losses match the wasm
// kernels' (float tolerance: the products sum in another order), and stay bit-identical however many pool threads
// compute them. Skipped where the addon is not built or the CPU lacks AVX2+FMA.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../src/maskllm/backend.js";
import { trainMasks } from "../../src/maskllm/train/loop.js";
import { OpPool, OpPoolError } from "../../src/parallel/op-pool.js";
import { setLinearKernels } from "../../src/maskllm/host/linear-kernels.js";
import { useNativeKernels } from "../../src/native/kernels.js";
import { tryLoadNativeAddon } from "../../src/native/loader.js";
import { tinyLlama, type TinyLlamaOptions } from "../helpers/tiny-llama.js";

const { addon, reason } = tryLoadNativeAddon();
const skip = addon ? false : `native addon unavailable: ${reason}`;

before(async () => {
  await initBackend("wasm");
});
after(() => {
  useNativeKernels("off");
});

const windows = Array.from({ length: 8 }, (_, w) => Int32Array.from({ length: 24 }, (_, i) => (w * 7 + i * 13 + ((w * i) % 5)) % 96));

const variants: [string, TinyLlamaOptions, { n: number; m: number }][] = [
  ["GQA, tied, 2:4", { layers: 2, hidden: 40, heads: 4, kvHeads: 2, intermediate: 52, vocab: 96 }, { n: 2, m: 4 }],
  ["untied, 4:8", { layers: 1, hidden: 48, heads: 4, kvHeads: 4, intermediate: 72, vocab: 96, config: { tieWordEmbeddings: false } }, { n: 4, m: 8 }],
];

for (const [label, o, pattern] of variants)
  test(`native products train the same logits as wasm's within float tolerance: ${label}, soft and hard`, { skip }, async () => {
    const model = tinyLlama({ ...o, seed: 3 });
    try {
      for (const hard of [false, true]) {
        const options = { pattern, steps: 4, batchSize: 4, microBatches: 2, seed: 1, progressEvery: 1, hard };
        const run = async (mode: "auto" | "off") => {
          assert.equal(useNativeKernels(mode).kernels, mode === "off" ? "wasm" : addon!.isa());
          const losses: number[] = [];
          const r = await trainMasks({ model, windows, options, onProgress: (p) => losses.push(p.lmLoss) });
          return { r, losses };
        };
        const wasm = await run("off");
        const native = await run("auto");
        let worst = 0;
        let scale = 0;
        for (const [name, a] of wasm.r.logits) {
          const b = native.r.logits.get(name)!;
          for (let i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
          }
        }
        assert.ok(scale > 0.01 && worst < 1e-5 * Math.max(1, scale), `hard=${hard}: logits differ by ${worst} (scale ${scale})`);
        wasm.losses.forEach((l, i) => assert.ok(Math.abs(l - native.losses[i]) < 1e-5 * Math.abs(l), `step ${i + 1}: lm ${l} vs ${native.losses[i]}`));
      }
    } finally {
      for (const t of model.weights.values()) t.dispose();
    }
  });

test("with native products, an OpPool of 2 threads trains bit-identically to one thread", { skip }, async () => {
  // big enough that the products are split over the threads (ops above the pool's threshold)
  const model = tinyLlama({ layers: 2, hidden: 128, heads: 8, kvHeads: 4, intermediate: 256, vocab: 128, seed: 9 });
  const options = { steps: 3, batchSize: 8, microBatches: 2, seed: 4, progressEvery: 1 };
  const big = Array.from({ length: 8 }, (_, w) => Int32Array.from({ length: 32 }, (_, i) => (w * 7 + i * 13) % 128));
  try {
    useNativeKernels("auto");
    const single = await trainMasks({ model, windows: big, options });
    const pool = await OpPool.start(2);
    try {
      const r = await trainMasks({ model, windows: big, options, executor: pool });
      for (const [name, l] of single.logits) assert.deepEqual(r.logits.get(name), l, name);
      assert.equal(r.last!.lmLoss, single.last!.lmLoss);
    } finally {
      await pool.close();
    }
  } finally {
    for (const t of model.weights.values()) t.dispose();
  }
});

test("an OpPool refuses to start when its threads would run other linear products than its owner", { skip }, async () => {
  useNativeKernels("off");
  setLinearKernels(addon); // plugged in by hand: the mode the threads are told is still "off"
  try {
    await assert.rejects(OpPool.start(2), (err: unknown) => err instanceof OpPoolError && /wasm/.test(err.message));
  } finally {
    useNativeKernels("off");
  }
});
