import { test } from "node:test";
import assert from "node:assert/strict";
import { magnitudeScores, wandaScores } from "../../../src/maskllm/prune/scores.js";
import { sparseGpt } from "../../../src/maskllm/prune/sparsegpt.js";
import { nmMaskFromScores } from "../../../src/maskllm/mask/select.js";
import { verifyNMMask } from "../../../src/maskllm/mask/verify.js";
import { PruneInputError } from "../../../src/maskllm/prune/errors.js";

const p24 = { n: 2, m: 4 };

test("magnitude keeps the two largest |w| of each group of four", () => {
  const w = [0.5, -3, 1, 2, /**/ -0.1, 0.2, -0.3, 0.05];
  const mask = nmMaskFromScores(magnitudeScores(w), 1, 8, p24);
  assert.deepEqual(Array.from(mask), [0, 1, 0, 1, 0, 1, 1, 0]);
});

test("wanda weighs |w| by the input feature norm, so a small weight on a loud feature wins", () => {
  // feature norms² 1, 100, 1, 1 → norms 1, 10, 1, 1; row 0 |w| = 3, 0.5, 2, 1 → scores 3, 5, 2, 1
  const w = [3, 0.5, -2, 1, /**/ 1, 1, 1, 1];
  const s = wandaScores(w, 2, 4, [1, 100, 1, 1]);
  assert.deepEqual(Array.from(s), [3, 5, 2, 1, 1, 10, 1, 1]);
  assert.deepEqual(Array.from(nmMaskFromScores(s, 2, 4, p24)), [1, 1, 0, 0, 1, 1, 0, 0]);
  // magnitude alone would keep columns 0 and 2 of row 0
  assert.deepEqual(Array.from(nmMaskFromScores(magnitudeScores(w), 2, 4, p24)).slice(0, 4), [1, 0, 1, 0]);
  assert.throws(() => wandaScores(w, 2, 4, [1, -1, 1, 1]), PruneInputError);
});

test("sparsegpt 1:2 with compensation, worked by hand", () => {
  // H = [[4,2],[2,3]] (no damping): U = [[√(3/8), −1/(4√(3/8))], [0, √(1/3)]]
  // row 0, W = [1, 1]: scores 1/(3/8) = 8/3 < 1/(1/3) = 3 → prune col 0; err = 1/√(3/8),
  //   w1 −= err·U01 → 1 + 1/(4·3/8) = 5/3 (OBS: δw1 = −(H10/H11)·δw0 = 2/3); loss = (8/3)/2
  // row 1, W = [3, −1]: scores 24 > 3 → prune col 1 (last column, nothing to compensate); loss = 3/2
  const r = sparseGpt([1, 1, 3, -1], 2, 2, Float64Array.from([4, 2, 2, 3]), { pattern: { n: 1, m: 2 }, update: true, percDamp: 0 });
  assert.deepEqual(Array.from(r.mask), [0, 1, 1, 0]);
  assert.ok(Math.abs(r.weight![1] - 5 / 3) < 1e-6);
  assert.deepEqual([r.weight![0], r.weight![2], r.weight![3]], [0, 3, 0]);
  assert.ok(Math.abs(r.loss - (4 / 3 + 3 / 2)) < 1e-12);
  // mask only: same saliencies on the untouched W, no weight comes back
  const m = sparseGpt([1, 1, 3, -1], 2, 2, Float64Array.from([4, 2, 2, 3]), { pattern: { n: 1, m: 2 }, update: false, percDamp: 0 });
  assert.deepEqual(Array.from(m.mask), [0, 1, 1, 0]);
  assert.equal(m.weight, undefined);
});

test("dampening adds 1% of mean(diag H) and dead inputs are pruned first", () => {
  // H = diag(0, 2, 4, 6) → dead col 0 gets H00 = 1, W[:,0] = 0; damp = 0.01·(1+2+4+6)/4
  // with diagonal H, U_jj = 1/√H_jj, so the saliency is w²·H_jj
  const w = [5, 1, 1, 1];
  const h = new Float64Array(16);
  [0, 2, 4, 6].forEach((v, j) => (h[j * 4 + j] = v));
  const r = sparseGpt(w, 1, 4, h, { pattern: p24, update: false });
  assert.equal(r.deadColumns, 1);
  assert.deepEqual(Array.from(r.mask), [0, 0, 1, 1]);
  const damp = 0.01 * (13 / 4);
  assert.ok(Math.abs(r.loss - (0 + (2 + damp)) / 2) < 1e-12, `loss ${r.loss}`);
});

/** Straightforward SparseGPT: no lazy blocks, explicit U from the naive chol → inverse → chol path. */
function naiveSparseGpt(w0: ArrayLike<number>, rows: number, cols: number, h0: Float64Array, n: number, m: number) {
  const h = h0.slice();
  let mean = 0;
  for (let j = 0; j < cols; j++) mean += h[j * cols + j] / cols;
  for (let j = 0; j < cols; j++) h[j * cols + j] += 0.01 * mean;
  // Gauss-Jordan inverse, then upper Cholesky of it
  const inv = new Float64Array(cols * cols);
  const a = h.slice();
  for (let i = 0; i < cols; i++) inv[i * cols + i] = 1;
  for (let c = 0; c < cols; c++) {
    const pv = a[c * cols + c];
    for (let j = 0; j < cols; j++) { a[c * cols + j] /= pv; inv[c * cols + j] /= pv; }
    for (let r = 0; r < cols; r++) if (r !== c) {
      const f = a[r * cols + c];
      for (let j = 0; j < cols; j++) { a[r * cols + j] -= f * a[c * cols + j]; inv[r * cols + j] -= f * inv[c * cols + j]; }
    }
  }
  const u = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    let s = inv[i * cols + i];
    for (let k = 0; k < i; k++) s -= u[k * cols + i] ** 2;
    u[i * cols + i] = Math.sqrt(s);
    for (let j = i + 1; j < cols; j++) {
      let t = inv[i * cols + j];
      for (let k = 0; k < i; k++) t -= u[k * cols + i] * u[k * cols + j];
      u[i * cols + j] = t / u[i * cols + i];
    }
  }
  const w = Float64Array.from(w0);
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) {
    const o = r * cols;
    if (i % m === 0) {
      const sc = Array.from({ length: m }, (_, j) => w[o + i + j] ** 2 / u[(i + j) * cols + i + j] ** 2);
      nmMaskFromScores(sc, 1, m, { n, m }).forEach((v, j) => (mask[o + i + j] = v));
    }
    const q = mask[o + i] ? w[o + i] : 0;
    const e = (w[o + i] - q) / u[i * cols + i];
    for (let k = i; k < cols; k++) w[o + k] -= e * u[i * cols + k];
    w[o + i] = q;
  }
  return { mask, w, h };
}

function lcg(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

test("lazy block updates give the straightforward result, the loss equals ½·tr(ΔW·H·ΔWᵀ), masks are N:M", () => {
  for (const [n, m, cols, block] of [[2, 4, 24, 8], [1, 4, 16, 4], [4, 8, 32, 16], [3, 5, 20, 128]] as const) {
    const rows = 5;
    const rnd = lcg(n * 100 + m);
    const w = Float32Array.from({ length: rows * cols }, rnd);
    const t = 40;
    const x = Float64Array.from({ length: t * cols }, rnd);
    const h = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) {
      let v = 0;
      for (let k = 0; k < t; k++) v += x[k * cols + i] * x[k * cols + j];
      h[i * cols + j] = (2 * v) / t;
    }
    const ref = naiveSparseGpt(w, rows, cols, h, n, m);
    const r = sparseGpt(w, rows, cols, h.slice(), { pattern: { n, m }, update: true, blockSize: block });
    assert.deepEqual(r.mask, ref.mask, `mask ${n}:${m}`);
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(r.weight![i] - ref.w[i]) < 1e-5, `w[${i}] ${r.weight![i]} vs ${ref.w[i]}`);
    assert.ok(verifyNMMask(r.mask, rows, cols, { n, m }).ok);
    for (let i = 0; i < w.length; i++) if (!r.mask[i]) assert.ok(Object.is(r.weight![i], 0));
    // OBS identity: ΔW = E·U and U·H·Uᵀ = I, so ΔW·H·ΔWᵀ summed over rows is Σ err² = 2·loss
    let quad = 0;
    for (let row = 0; row < rows; row++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++)
      quad += (w[row * cols + i] - ref.w[row * cols + i]) * ref.h[i * cols + j] * (w[row * cols + j] - ref.w[row * cols + j]);
    assert.ok(Math.abs(quad / 2 - r.loss) < 1e-6 * (1 + r.loss), `loss ${r.loss} vs ${quad / 2}`);
    // compensation beats plain masking of the same weights
    let plain = 0;
    for (let row = 0; row < rows; row++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++)
      plain += (r.mask[row * cols + i] ? 0 : w[row * cols + i]) * ref.h[i * cols + j] * (r.mask[row * cols + j] ? 0 : w[row * cols + j]);
    assert.ok(quad < plain, `compensated ${quad} vs masked ${plain}`);
    const mo = sparseGpt(w, rows, cols, h.slice(), { pattern: { n, m }, update: false });
    assert.ok(verifyNMMask(mo.mask, rows, cols, { n, m }).ok);
  }
});

test("bad shapes are refused", () => {
  assert.throws(() => sparseGpt([1, 2, 3], 1, 3, new Float64Array(9), { pattern: p24, update: true }), /not a multiple of M=4/);
  assert.throws(() => sparseGpt([1, 2, 3, 4], 1, 4, new Float64Array(9), { pattern: p24, update: true }), PruneInputError);
  const h = new Float64Array(16).fill(0);
  h[0] = NaN;
  assert.throws(() => sparseGpt([1, 2, 3, 4], 1, 4, h, { pattern: p24, update: true }), PruneInputError);
});
