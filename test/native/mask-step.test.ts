// The native addon's mask-step math (src/native/mask-step.cc) against the wasm kernels it replaces, bit for bit:
// Gumbel noise, the fused noise + softmax, M̃, ∂ỹ, the fused M̃ + logits' gradient with its stats, AdamW and the argmax changes, for
// 2:4, 1:4 and 2:8 (the generic path) on odd group counts, with each tile the CPU has; then the host ops' native paths
// run whole or in 3 uneven pieces of their items. Skipped where the addon is not built or the CPU lacks AVX2+FMA.
import { test } from "node:test";
import assert from "node:assert/strict";
import { accumulateCandidateGrad, adamwUpdate, candidateLogitsGrad, sampleMasks, softMask } from "../../src/maskllm/kernels/mask-step-module.js";
import { gumbelNoiseInto } from "../../src/maskllm/kernels/gumbel-module.js";
import { candidateMatrixValues } from "../../src/maskllm/mask/patterns.js";
import { runRange, splitAxis, type HostOp } from "../../src/maskllm/host/ops.js";
import { setLinearKernels } from "../../src/maskllm/host/linear-kernels.js";
import { argmaxChanges } from "../../src/maskllm/train/argmax.js";
import { nativeAddonUnderTest, seededUniform } from "../helpers/native-addon.js";

const { addon, skip, isas } = nativeAddonUnderTest();

const rnd = seededUniform(23);
const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rnd());
// ỹ rows that sum to about 1, as the sampler leaves them
function probsOf(groups: number, c: number): Float32Array {
  const p = uniform(groups * c, 0, 1);
  for (let g = 0; g < groups; g++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += p[g * c + j];
    for (let j = 0; j < c; j++) p[g * c + j] /= s;
  }
  return p;
}

// bit for bit (NaN-free inputs): the first differing index, if any
function same(label: string, a: Float32Array | Float64Array, b: Float32Array | Float64Array): void {
  assert.equal(a.length, b.length, label);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${label}: [${i}] ${a[i]} vs ${b[i]}`);
}

const PATTERNS = [
  { n: 2, m: 4 },
  { n: 1, m: 4 },
  { n: 2, m: 8 },
];
const GROUPS = [1, 3, 17, 1001];

for (const isa of isas) {
  test(`native Gumbel noise is the wasm noise bit for bit, series branch included: ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    for (const [n, s, scale] of [[1, 1, 1], [7, 42, 0.5], [33, 0xffffffff, 1 / 3], [200_003, 123456789, 2]] as const) {
      const want = new Float32Array(n);
      const got = new Float32Array(n);
      gumbelNoiseInto(want, s, scale);
      addon!.gumbelNoise(got, s, scale);
      same(`n ${n} seed ${s}`, got, want);
    }
  });

  test(`native sampleProbs (noise + softmax in one pass) is gumbelNoiseInto + sampleMasks' ỹ bit for bit: ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    for (const p of PATTERNS)
      for (const groups of GROUPS)
        for (const hard of [false, true]) {
          const s = candidateMatrixValues(p);
          const c = s.length / p.m;
          const logits = uniform(groups * c, -4, 4);
          const [sd, invTau, scale] = [groups * 7 + c, 1 / 0.7, 3.3];
          const noise = new Float32Array(groups * c);
          gumbelNoiseInto(noise, sd, invTau);
          const want = new Float32Array(groups * c);
          sampleMasks({ groups, candidates: c, m: p.m, s }, logits, noise, scale, hard, want, new Float32Array(groups * p.m));
          const got = new Float32Array(groups * c);
          addon!.sampleProbs(logits, got, groups, c, sd, invTau, scale);
          same(`${p.n}:${p.m} groups ${groups} hard ${hard}`, got, want);
        }
  });

  test(`native softMask, candidateGrad, candidateLogitsGrad (with its stats) and adamw are wasm's bit for bit: ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    for (const p of PATTERNS)
      for (const groups of GROUPS)
        for (const hard of [false, true]) {
          const s = candidateMatrixValues(p);
          const c = s.length / p.m;
          const l = { groups, candidates: c, m: p.m, s };
          const label = `${p.n}:${p.m} groups ${groups} hard ${hard}`;
          const probs = probsOf(groups, c);
          const masks = new Float32Array(groups * p.m);
          const nativeMasks = new Float32Array(groups * p.m);
          softMask(l, probs, hard, masks);
          addon!.softMask(probs, s, nativeMasks, groups, c, p.m, hard);
          same(`softMask ${label}`, nativeMasks, masks);

          const dMasks = uniform(groups * p.m, -1, 1);
          const dProbs = uniform(groups * c, -1, 1);
          const nativeDProbs = dProbs.slice();
          accumulateCandidateGrad(l, dMasks, dProbs);
          addon!.candidateGrad(dMasks, s, nativeDProbs, groups, c, p.m);
          same(`candidateGrad ${label}`, nativeDProbs, dProbs);

          const w = uniform(groups * p.m, -0.5, 0.5);
          const r = candidateLogitsGrad(l, probs, dProbs, w, masks, 2.5, 0.3);
          const stats = new Float64Array(3);
          addon!.candidateLogitsGrad(probs, nativeDProbs, w, s, groups, c, p.m, 2.5, 0.3, hard, stats);
          same(`candidateLogitsGrad ${label}`, nativeDProbs, dProbs);
          same(`candidateLogitsGrad stats ${label}`, stats, Float64Array.of(r.reg, r.maxProbSum, r.sq));
        }
    for (const n of [1, 15, 1003]) {
      const state = { logits: uniform(n, -2, 2), m: uniform(n, -0.1, 0.1), v: uniform(n, 0, 0.01) };
      const mine = { logits: state.logits.slice(), m: state.m.slice(), v: state.v.slice() };
      const grad = uniform(n, -1, 1);
      const u = { beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 1 - 1e-4, stepSize: 0.05 / (1 - 0.9 ** 3), invSqrtBc2: 1 / Math.sqrt(1 - 0.999 ** 3) };
      adamwUpdate(state, grad, 0.7, u);
      addon!.adamw(mine.logits, mine.m, mine.v, grad, 0.7, u.beta1, u.beta2, u.eps, u.decay, u.stepSize, u.invSqrtBc2);
      same(`adamw logits n ${n}`, mine.logits, state.logits);
      same(`adamw m n ${n}`, mine.m, state.m);
      same(`adamw v n ${n}`, mine.v, state.v);
    }
  });
}

// Runs op in `pieces` uneven ranges of its items one after another, on fresh copies of its outputs (as a pool's
// threads would take them), and returns them.
function runSplit(make: () => HostOp, outputs: (op: HostOp) => (Float32Array | Float64Array)[], pieces: number): (Float32Array | Float64Array)[] {
  const op = make();
  runPieces(op, pieces);
  return outputs(op);
}

function runPieces(op: HostOp, pieces: number): void {
  const n = splitAxis(op).items;
  // cuts off the atoms' grid: a thread's claim ends on it, but any cut must give the same values
  const cuts = [0, ...Array.from({ length: pieces - 1 }, (_, i) => Math.min(n, Math.floor(((i + 1) * n) / pieces) + 1)), n];
  for (let i = 0; i + 1 < cuts.length; i++) runRange(op, cuts[i], Math.max(cuts[i], cuts[i + 1]));
}

test("the host ops' native mask paths give wasm's bits, whole or in uneven pieces", { skip }, () => {
  const s = candidateMatrixValues({ n: 2, m: 4 });
  const [c, m] = [6, 4];
  const groups = [37, 5, 120, 1]; // targets
  const offsets = groups.map((_, i) => groups.slice(0, i).reduce((a, b) => a + b, 0));
  const total = groups.reduce((a, b) => a + b, 0);
  const logits = uniform(total * c, -3, 3);
  const probs = probsOf(total, c);
  const dProbs = uniform(total * c, -1, 1);
  const w = groups.map((g) => uniform(g * m, -0.5, 0.5));
  const grad = uniform(total * c, -1, 1);
  const [mom, vel] = [uniform(total * c, -0.1, 0.1), uniform(total * c, 0, 0.01)];
  const [inDim, outDim, tokens] = [16, 11, 9];
  const [x, dy, wl] = [uniform(tokens * inDim, -1, 1), uniform(tokens * outDim, -1, 1), uniform(outDim * inDim, -1, 1)];
  const cases: [string, () => HostOp, (op: HostOp) => (Float32Array | Float64Array)[]][] = [
    [
      "sample",
      () => ({ kind: "sample", logits, probs: new Float32Array(total * c), dProbs: dProbs.slice(), offsets, groups, seeds: [1, 2, 3, 0xfffffff0], invTau: 1.5, scale: 2, hard: false, s, c, m }),
      (op) => [(op as { probs: Float32Array }).probs, (op as { dProbs: Float32Array }).dProbs],
    ],
    [
      "logitsGrad",
      () => ({ kind: "logitsGrad", probs, dProbs: dProbs.slice(), w, stats: new Float64Array(3 * groups.length), offsets, groups, scale: 2, twoLambda: 0.2, hard: true, s, c, m }),
      (op) => [(op as { dProbs: Float32Array }).dProbs, (op as { stats: Float64Array }).stats],
    ],
    [
      "adamw",
      () => ({ kind: "adamw", logits: logits.slice(), mom: mom.slice(), vel: vel.slice(), grad, coef: 0.9, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 0.999, stepSize: 0.01, invSqrtBc2: 3 }),
      (op) => { const a = op as { logits: Float32Array; mom: Float32Array; vel: Float32Array }; return [a.logits, a.mom, a.vel]; },
    ],
    ["softMask", () => ({ kind: "softMask", probs, s, masks: new Float32Array(total * m), hard: false, groups: total, c, m }), (op) => [(op as { masks: Float32Array }).masks]],
    [
      "maskGrad",
      () => ({ kind: "maskGrad", x, dy, w: wl, s, dProbs: new Float32Array((outDim * inDim / m) * c), tokens, inDim, outDim, c, m }),
      (op) => [(op as { dProbs: Float32Array }).dProbs],
    ],
  ];
  for (const [name, make, outputs] of cases) {
    setLinearKernels(undefined);
    const wasm = runSplit(make, outputs, 1);
    setLinearKernels(addon);
    const one = runSplit(make, outputs, 1);
    const three = runSplit(make, outputs, 3);
    one.forEach((a, i) => same(`${name} [${i}] 3 pieces vs 1`, three[i], a));
    // maskGrad's product is the GEMM's, summed in another order than wasm's: the rest are wasm's bits
    if (name !== "maskGrad") one.forEach((a, i) => same(`${name} [${i}] native vs wasm`, a, wasm[i]));
    else one.forEach((a, i) => a.forEach((v, k) => assert.ok(Math.abs(v - wasm[i][k]) <= 1e-5 * (1 + Math.abs(wasm[i][k])), `maskGrad [${k}] ${v} vs ${wasm[i][k]}`)));
  }
  setLinearKernels(undefined);
});

test("native argmaxChanges counts and records the same argmax changes as the JS loop (first on ties, NaN never wins)", { skip }, () => {
  for (const c of [6, 4, 28]) {
    const groups = 1001;
    // values on a coarse grid, so ties are common; a few NaNs
    const logits = Float32Array.from({ length: groups * c }, (_, i) => (i % 97 === 0 ? NaN : Math.floor(rnd() * 4)));
    const prev = Uint16Array.from({ length: groups }, () => Math.floor(rnd() * c));
    const prevJs = prev.slice();
    setLinearKernels(undefined);
    const js = argmaxChanges(logits, c, prevJs);
    const native = addon!.argmaxChanges(logits, c, prev);
    assert.equal(native, js, `c ${c}`);
    assert.deepEqual(prev, prevJs, `c ${c}`);
    assert.ok(js > 0);
    // and through the plugged-in kernels, as the training loop calls it
    setLinearKernels(addon);
    const again = prevJs.slice();
    logits[0] = 1e9;
    assert.equal(argmaxChanges(logits, c, again), prevJs[0] === 0 ? 0 : 1);
    // and as the host loop runs it, an op split into pieces: the same total and the same prev
    for (const pieces of [1, 2, 3]) {
      const split = prevJs.slice();
      const op = { kind: "argmaxChanges" as const, logits, c, prev: split, changes: new Int32Array(1) };
      runPieces(op, pieces);
      assert.equal(op.changes[0], prevJs[0] === 0 ? 0 : 1, `c ${c}, ${pieces} pieces`);
      assert.deepEqual(split, again, `c ${c}, ${pieces} pieces`);
    }
    setLinearKernels(undefined);
  }
  assert.throws(() => addon!.argmaxChanges(new Float32Array(7), 6, new Uint16Array(1)), /argmaxChanges: 7 logits are not 1 groups of 6 candidates/);
});
