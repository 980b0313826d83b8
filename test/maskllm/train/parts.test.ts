import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../../src/maskllm/backend.js";
import { scheduleAt, cosineLr } from "../../../src/maskllm/train/schedules.js";
import { gumbelNoise, mulberry32Bits, permutation, seedFor } from "../../../src/maskllm/train/rng.js";
import { applyPrior } from "../../../src/maskllm/train/prior.js";
import { initLogits } from "../../../src/maskllm/train/logits.js";
import { logitsGradient, sampleMasks, type MaskContext } from "../../../src/maskllm/train/micro-batch.js";
import { AdamW } from "../../../src/maskllm/train/adamw.js";
import { clipByGlobalNorm } from "../../../src/maskllm/train/clip.js";
import { hardMaskFromLogits } from "../../../src/maskllm/train/trim.js";
import { candidateMatrix } from "../../../src/maskllm/mask/patterns.js";
import { decodeSnapshot, encodeSnapshot, SnapshotError } from "../../../src/maskllm/train/snapshot.js";
import { nextTokenLoss } from "../../../src/maskllm/train/loss.js";

const P24 = { n: 2, m: 4 };
const DEFAULTS = { tau: { start: 4, end: 0.05 }, kappa: { start: 100, end: 500 }, lambda: 1e-5, lr: 5e-4, lrMin: 5e-5 };

before(async () => {
  await initBackend("wasm");
});

test("schedules: τ 4→0.05 and κ 100→500 linear, λ decays to 0, lr cosine 5e-4→5e-5", () => {
  const s0 = scheduleAt(DEFAULTS, 0, 100);
  assert.deepEqual([s0.tau, s0.kappa, s0.lambda, s0.lr], [4, 100, 1e-5, 5e-4]);
  const mid = scheduleAt(DEFAULTS, 50, 100);
  assert.ok(Math.abs(mid.tau - 2.025) < 1e-12 && Math.abs(mid.kappa - 300) < 1e-9 && Math.abs(mid.lambda - 5e-6) < 1e-18);
  assert.ok(Math.abs(mid.lr - 2.75e-4) < 1e-12);
  const end = scheduleAt(DEFAULTS, 100, 100);
  assert.ok(Math.abs(end.tau - 0.05) < 1e-12 && end.kappa === 500 && end.lambda === 0 && Math.abs(end.lr - 5e-5) < 1e-15);
  assert.ok(cosineLr(1, 0, 0.25) > 0.85 && cosineLr(1, 0, 0.25) < 0.86);
});

test("rng: streams are reproducible and distinct; Gumbel noise has the right mean", () => {
  assert.deepEqual(gumbelNoise(5, seedFor(0, 3, 1)), gumbelNoise(5, seedFor(0, 3, 1)));
  assert.notDeepEqual(gumbelNoise(5, seedFor(0, 3, 1)), gumbelNoise(5, seedFor(0, 4, 1)));
  assert.notDeepEqual(gumbelNoise(5, seedFor(0, 3, 1)), gumbelNoise(5, seedFor(0, 3, 2)));
  const g = gumbelNoise(200_000, seedFor(1, 0, 0));
  const mean = g.reduce((a, b) => a + b, 0) / g.length;
  assert.ok(Math.abs(mean - 0.5772) < 0.01, `Gumbel mean ${mean}`);
  const variance = g.reduce((a, b) => a + (b - mean) ** 2, 0) / g.length;
  assert.ok(Math.abs(variance - Math.PI ** 2 / 6) < 0.03, `Gumbel variance ${variance}`);
  // the float32 kernel against float64 −log(−log u) of the same 23-bit uniforms, including the w = 1 − u < 1/64
  // series branch (about 1.6% of draws) and both tails
  const bits = mulberry32Bits(seedFor(1, 0, 0));
  let worst = 0;
  for (let i = 0; i < g.length; i++) {
    const u = ((bits() >>> 9) + 0.5) / 2 ** 23;
    const exact = -Math.log(-Math.log(u));
    worst = Math.max(worst, Math.abs(g[i] - exact) / Math.max(1, Math.abs(exact)));
  }
  assert.ok(worst < 2e-6, `Gumbel kernel error ${worst}`);
  const scaled = gumbelNoise(7, seedFor(2, 1, 3), 2.5);
  gumbelNoise(7, seedFor(2, 1, 3)).forEach((x, i) => assert.ok(Math.abs(scaled[i] - 2.5 * x) <= 1e-6 * Math.abs(scaled[i])));
  const p = permutation(50, 9);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

test("init N(0, 0.01) and the prior shifts logits by std·α·(M0·Sᵀ − N/2)", () => {
  const target = { name: "w", shape: [8, 400] as [number, number] };
  const l = initLogits([target], P24, 0).get("w")!;
  assert.equal(l.length, 800 * 6);
  const mean = l.reduce((a, b) => a + b, 0) / l.length;
  const std = Math.sqrt(l.reduce((a, b) => a + (b - mean) ** 2, 0) / (l.length - 1));
  assert.ok(Math.abs(std - 0.01) < 0.0005, `std ${std}`);
  const m0 = new Uint8Array(3200);
  for (let g = 0; g < 800; g++) {
    m0[g * 4 + 1] = 1; // keep (1,3): candidate index 4 in lexicographic order
    m0[g * 4 + 3] = 1;
  }
  const out = applyPrior(l, m0, P24, 3);
  // candidates (0,1) (0,2) (0,3) (1,2) (1,3) (2,3): shared kept positions with (1,3) minus N/2
  const sims = [0, -1, 0, 0, 1, 0];
  for (let j = 0; j < 6; j++) assert.ok(Math.abs(out[j] - l[j] - std * 3 * sims[j]) < 1e-6);
  // the shift is 3σ against N(0, σ²) noise, so most (not all) groups start at the prior's candidate
  const hard = hardMaskFromLogits(out, P24);
  let agree = 0;
  for (let i = 0; i < hard.length; i++) if (hard[i] === m0[i]) agree++;
  assert.ok(agree / hard.length > 0.9, `agreement ${agree / hard.length}`);
});

test("gumbel-softmax: soft masks keep N in expectation per group; hard mode is one-hot with gradients", () => {
  const S = candidateMatrix(P24);
  const logits = tf.tensor2d([[0.01, 0, 0, 0, 0.03, 0], [0, 0, 0, 0, 0, 0.02]]);
  const noise = tf.tensor2d(gumbelNoise(12, 5), [2, 6]);
  const ctx = (hard: boolean) => ({ candidates: S, weightSquared: tf.zeros([2, 4]), hard }) as unknown as MaskContext;
  const soft = sampleMasks(ctx(false), logits, noise, { kappa: 100, tau: 4, lambda: 0 });
  const m = soft.masks.dataSync();
  for (const g of [0, 1]) assert.ok(Math.abs(m[g * 4] + m[g * 4 + 1] + m[g * 4 + 2] + m[g * 4 + 3] - 2) < 1e-5);
  const sch = { kappa: 100, tau: 0.5, lambda: 0 };
  const hard = sampleMasks(ctx(true), logits, noise, sch);
  const hm = hard.masks.dataSync();
  assert.equal(hm.filter((x) => x === 1).length, 4, "one candidate (two kept weights) per group");
  assert.equal(hm.filter((x) => x === 0).length, 4);
  const grad = logitsGradient(ctx(true), hard.probs, hard.masks, tf.reshape(tf.range(0, 8), [2, 4]) as tf.Tensor2D, sch);
  assert.ok(tf.abs(grad.grad).sum().dataSync()[0] > 0, "straight-through: the hard forward still passes gradients");
  tf.dispose([S, logits, noise, soft.probs, soft.masks, hard.probs, hard.masks, grad.grad, grad.reg, grad.maxProb]);
});

test("the fused mask step (sampling; gradient, clipping and AdamW) equals the TF.js ops, soft and hard, for 2:4, 1:4 and 4:8", async () => {
  const { fusedSampleMasks, fusedLogitsUpdate } = await import("../../../src/maskllm/train/fused-step.js");
  const { candidateMatrixValues } = await import("../../../src/maskllm/mask/patterns.js");
  const opts = { beta1: 0.9, beta2: 0.95, eps: 1e-5, weightDecay: 0.1, gradClip: 1 };
  const close = (a: tf.Tensor, b: tf.Tensor, what: string, tol = 1e-5) => {
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
    const scale = tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0]);
    assert.ok(err <= tol * Math.max(1, scale), `${what}: max error ${err} (scale ${scale})`);
  };
  for (const [pattern, groups] of [[P24, 37], [{ n: 1, m: 4 }, 8], [{ n: 4, m: 8 }, 5]] as const)
    for (const hard of [false, true]) {
      const what = `${pattern.n}:${pattern.m} ${hard ? "hard" : "soft"}`;
      const S = candidateMatrix(pattern);
      const s = candidateMatrixValues(pattern);
      const c = S.shape[0];
      const logits = tf.randomNormal([groups, c], 0, 0.02, "float32", groups) as tf.Tensor2D;
      const noise = tf.tensor2d(gumbelNoise(groups * c, 11, 1 / 0.7), [groups, c]);
      const w2 = tf.square(tf.randomNormal([groups, pattern.m], 0, 1, "float32", 2)) as tf.Tensor2D;
      const lmGrad = tf.randomNormal([groups, pattern.m], 0, 0.1, "float32", 3) as tf.Tensor2D;
      const sch = { kappa: 180, tau: 0.7, lambda: 1e-3 };
      const ctx = { candidates: S, weightSquared: w2, hard } as unknown as MaskContext;
      const ref = sampleMasks(ctx, logits, noise, sch);
      const got = fusedSampleMasks(logits, noise, s, pattern.m, sch, hard);
      close(got.probs, ref.probs, `${what} probs`);
      close(got.masks, ref.masks, `${what} masks`);
      // two updates from the same state, through TF.js ops and through the kernel
      const run = (useFused: boolean) => {
        const p = tf.variable(logits.clone());
        const opt = new AdamW(new Map([["p", p]]), opts);
        const stats: number[] = [];
        for (let t = 1; t <= 2; t++)
          tf.tidy(() => {
            if (useFused) {
              const u = fusedLogitsUpdate({ logits: p, m: opt.m.get("p")!, v: opt.v.get("p")! }, { probs: ref.probs, masks: ref.masks, lmGrad, weightSquared: w2 }, s, { ...sch, lr: 0.01, t }, opts);
              stats.push(u.reg.dataSync()[0], u.maxProb.dataSync()[0], u.norm.dataSync()[0]);
            } else {
              const lg = logitsGradient(ctx, ref.probs, ref.masks, lmGrad, sch);
              const { clipped, norm } = clipByGlobalNorm(new Map([["p", lg.grad]]), opts.gradClip);
              opt.apply(clipped, 0.01, t);
              stats.push(lg.reg.dataSync()[0], lg.maxProb.dataSync()[0], norm.dataSync()[0]);
            }
          });
        const out = [p.clone(), opt.m.get("p")!.clone(), opt.v.get("p")!.clone()];
        p.dispose();
        opt.dispose();
        return { out, stats };
      };
      const a = run(true);
      const b = run(false);
      ["logits", "m", "v"].forEach((n, i) => close(a.out[i], b.out[i], `${what} ${n}`));
      a.stats.forEach((x, i) => assert.ok(Math.abs(x - b.stats[i]) <= 1e-5 * Math.max(1, Math.abs(b.stats[i])), `${what} stat ${i}: ${x} vs ${b.stats[i]}`));
      assert.ok(b.stats[2] > 1, `${what}: the gradient norm ${b.stats[2]} is over the clip, so clipping is exercised`);
      tf.dispose([S, logits, noise, w2, lmGrad, ref.probs, ref.masks, got.probs, got.masks, ...a.out, ...b.out]);
    }
});

test("AdamW matches the PyTorch update (decoupled decay, bias correction) and clipping scales to norm 1", () => {
  const p = tf.variable(tf.tensor1d([1, -2]));
  const opt = new AdamW(new Map([["p", p]]), { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  const g = tf.tensor1d([0.5, 0.25]);
  const ref = [1, -2];
  let m = [0, 0];
  let v = [0, 0];
  for (let t = 1; t <= 3; t++) {
    tf.tidy(() => opt.apply(new Map([["p", g]]), 0.01, t));
    for (let i = 0; i < 2; i++) {
      const gi = [0.5, 0.25][i];
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.95 * v[i] + 0.05 * gi * gi;
      ref[i] *= 1 - 0.01 * 0.1;
      ref[i] -= (0.01 / (1 - 0.9 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.95 ** t) + 1e-8);
    }
  }
  const got = p.dataSync();
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(got[i] - ref[i]) < 1e-6, `${got[i]} vs ${ref[i]}`);
  m = v = [];
  const [norm, a, b] = tf.tidy(() => {
    const r = clipByGlobalNorm(new Map([["a", tf.tensor1d([3, 0])], ["b", tf.tensor1d([0, 4])]]), 1);
    return [r.norm, r.clipped.get("a")!, r.clipped.get("b")!];
  });
  assert.ok(Math.abs(norm.dataSync()[0] - 5) < 1e-6);
  assert.ok(Math.abs(a.dataSync()[0] - 0.6) < 1e-5 && Math.abs(b.dataSync()[1] - 0.8) < 1e-5);
  const small = tf.tidy(() => clipByGlobalNorm(new Map([["a", tf.tensor1d([0.3, 0.4])]]), 1).clipped.get("a")!);
  assert.ok(Math.abs(small.dataSync()[1] - 0.4) < 1e-6);
  tf.dispose([p, g, norm, a, b, small]);
  opt.dispose();
});

test("snapshot bytes round-trip and reject foreign data", () => {
  const f = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => i * k);
  const s = {
    step: 3, steps: 10, seed: 7, pattern: "2:4", options: { steps: 10 }, rng: { algorithm: "mulberry32" },
    targets: [{ name: "a.weight", shape: [2, 4] as [number, number] }],
    logits: new Map([["a.weight", f(12, 1)]]), m: new Map([["a.weight", f(12, 2)]]), v: new Map([["a.weight", f(12, 3)]]),
  };
  const back = decodeSnapshot(encodeSnapshot(s));
  assert.equal(back.step, 3);
  assert.deepEqual(back.v.get("a.weight"), f(12, 3));
  assert.deepEqual(back.targets, s.targets);
  assert.throws(() => decodeSnapshot(Uint8Array.from([1, 2, 3])), SnapshotError);
  assert.throws(() => decodeSnapshot(encodeSnapshot(s).subarray(0, 100)), SnapshotError);
});

test("the fused next-token cross-entropy matches a direct computation and finite differences", () => {
  const [b, t, v] = [2, 3, 5];
  const x = tf.variable(tf.randomNormal([b, t, v], 0, 1, "float32", 3));
  const ids = Int32Array.from([1, 2, 3, 4, 0, 1]);
  const loss = (xx: tf.Tensor) => nextTokenLoss(xx as tf.Tensor3D, ids);
  const xs = x.arraySync() as number[][][];
  let direct = 0;
  for (let r = 0; r < b; r++)
    for (let i = 0; i + 1 < t; i++) {
      const row = xs[r][i];
      const lse = Math.log(row.reduce((a, z) => a + Math.exp(z), 0));
      direct += lse - row[ids[r * t + i + 1]];
    }
  direct /= b * (t - 1);
  assert.ok(Math.abs(loss(x).dataSync()[0] - direct) < 1e-5);
  const g = tf.variableGrads(() => loss(x), [x]);
  const grad = Object.values(g.grads)[0].dataSync();
  const base = x.dataSync();
  for (const k of [0, 7, 12, 29]) {
    const eps = 1e-2;
    const plus = Float32Array.from(base);
    plus[k] += eps;
    const minus = Float32Array.from(base);
    minus[k] -= eps;
    const fd = (loss(tf.tensor3d(plus, [b, t, v])).dataSync()[0] - loss(tf.tensor3d(minus, [b, t, v])).dataSync()[0]) / (2 * eps);
    assert.ok(Math.abs(fd - grad[k]) < 1e-3, `grad[${k}] ${grad[k]} vs finite difference ${fd}`);
  }
  // the last position of each row predicts nothing
  assert.equal(grad[2 * v + 1], 0);
});
