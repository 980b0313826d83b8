// The native addon's linear products (src/native/gemm.cc) against the wasm kernels they replace, op by op, on
// shapes whose sizes are not multiples of any tile (12×32 / 6×16 tiles, 256-step slices), with each tile the CPU
// has; and the switch that turns them on and off. Skipped where the addon is not built or the CPU lacks AVX2+FMA.
import { test } from "node:test";
import assert from "node:assert/strict";
import { linearForward, linearInputGrad, lmHeadLoss, maskedWeightGradRows, softLinearForward, softLinearInputGrad } from "../../src/maskllm/kernels/matmul-module.js";
import { linearKernels } from "../../src/maskllm/host/linear-kernels.js";
import { nativeAddonUnderTest, seededUniform } from "../helpers/native-addon.js";
import { nativeKernelsMode, useNativeKernels } from "../../src/native/kernels.js";

const { addon, skip, best, isas } = nativeAddonUnderTest();

const uniform01 = seededUniform(11);
const rnd = () => uniform01() - 0.5;
const randn = (n: number) => Float32Array.from({ length: n }, rnd);

// |a − b| within 2e-6·(Σ|terms| of that element, bounded by the row sums of |A|·|B|) + 1e-7
function close(label: string, a: Float32Array, b: Float32Array, scale: Float32Array): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 2e-6 * scale[i] + 1e-7, `${label}: [${i}] ${a[i]} vs ${b[i]} (scale ${scale[i]})`);
}

// Σ|x||w⊙M| per output, the error bound's scale, for y = x·Bᵀ (forward) or dx = dy·B with B = w ⊙ M [out, in]
function magnitudes(forward: boolean, a: Float32Array, b: Float32Array, tokens: number, inDim: number, outDim: number): Float32Array {
  const k = forward ? inDim : outDim;
  const n = forward ? outDim : inDim;
  const out = new Float32Array(tokens * n);
  for (let t = 0; t < tokens; t++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < k; r++) s += Math.abs(a[t * k + r] * (forward ? b[j * inDim + r] : b[r * inDim + j]));
      out[t * n + j] = s;
    }
  return out;
}

// M̃ of a soft mask, as the kernels form it: Σ_c ỹ[g][c]·S[c][i mod m]
function softDense(probs: Float32Array, s: Float32Array, m: number, size: number): Float32Array {
  const c = s.length / m;
  return Float32Array.from({ length: size }, (_, i) => {
    const g = Math.floor(i / m);
    let v = 0;
    for (let j = 0; j < c; j++) v += probs[g * c + j] * s[j * m + (i % m)];
    return v;
  });
}

// M̃ ⊙-ready as the kernels form it in float32: Σ_c ỹ·S in order, each product and sum rounded
function softExact(probs: Float32Array, s: Float32Array, m: number, size: number): Float32Array {
  const c = s.length / m;
  return Float32Array.from({ length: size }, (_, i) => {
    const g = Math.floor(i / m);
    let v = Math.fround(probs[g * c] * s[i % m]);
    for (let j = 1; j < c; j++) v = Math.fround(v + Math.fround(probs[g * c + j] * s[j * m + (i % m)]));
    return v;
  });
}

// [tokens, in, out]: ragged against every tile and block, plus a k over two 256-step slices
const SHAPES: [number, number, number][] = [[1, 4, 1], [13, 20, 37], [29, 264, 33], [50, 68, 520], [7, 300, 5]];

for (const isa of isas)
  test(`native linear / input grad equal wasm's (plain, hard and soft mask, accumulate) on ragged shapes: ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    for (const [tokens, inDim, outDim] of SHAPES) {
      const x = randn(tokens * inDim);
      const dy = randn(tokens * outDim);
      const w = randn(outDim * inDim);
      const mask = Float32Array.from({ length: w.length }, () => (rnd() > 0 ? 1 : 0));
      const m = 4;
      const s = Float32Array.from([1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1]);
      const probs = Float32Array.from({ length: (w.length / m) * 6 }, () => rnd() + 0.5);
      const soft = { probs, s, m };
      const dense = softDense(probs, s, m, w.length);
      for (const kind of ["plain", "hard", "soft"] as const) {
        const wm = kind === "plain" ? w : w.map((v, i) => v * (kind === "hard" ? mask : dense)[i]);
        const label = `${isa} ${tokens}x${inDim}→${outDim} ${kind}`;
        const yWasm = new Float32Array(tokens * outDim);
        if (kind === "soft") softLinearForward(x, w, soft, tokens, inDim, outDim, yWasm);
        else linearForward(x, w, kind === "hard" ? mask : undefined, tokens, inDim, outDim, yWasm);
        const yNative = new Float32Array(tokens * outDim).fill(NaN);
        addon!.linear(true, x, w, kind === "hard" ? mask : null, kind === "soft" ? probs : null, kind === "soft" ? s : null, kind === "soft" ? m : 0, tokens, inDim, outDim, yNative, false);
        close(`forward ${label}`, yNative, yWasm, magnitudes(true, x, wm, tokens, inDim, outDim));
        if (kind === "soft") {
          // M̃ formed while packing (four groups to a register on AVX-512, the rest four weights at a time) has the
          // bits of M̃ formed in order, given as a mask: forward (B = (W ⊙ M̃)ᵀ, transposed panels) and input grad
          const exact = softExact(probs, s, m, w.length);
          const yHard = new Float32Array(tokens * outDim);
          addon!.linear(true, x, w, exact, null, null, 0, tokens, inDim, outDim, yHard, false);
          assert.deepEqual(yNative, yHard, `forward ${label}: soft vs its M̃ as a mask`);
          const [dxSoft, dxHard] = [new Float32Array(tokens * inDim), new Float32Array(tokens * inDim)];
          addon!.linear(false, dy, w, null, probs, s, m, tokens, inDim, outDim, dxSoft, false);
          addon!.linear(false, dy, w, exact, null, null, 0, tokens, inDim, outDim, dxHard, false);
          assert.deepEqual(dxSoft, dxHard, `input grad ${label}: soft vs its M̃ as a mask`);
        }
        for (const accumulate of [false, true]) {
          const start = randn(tokens * inDim);
          const dxWasm = start.slice();
          if (kind === "soft") softLinearInputGrad(dy, w, soft, tokens, inDim, outDim, dxWasm, accumulate);
          else linearInputGrad(dy, w, kind === "hard" ? mask : undefined, tokens, inDim, outDim, dxWasm, accumulate);
          const dxNative = start.slice();
          addon!.linear(false, dy, w, kind === "hard" ? mask : null, kind === "soft" ? probs : null, kind === "soft" ? s : null, kind === "soft" ? m : 0, tokens, inDim, outDim, dxNative, accumulate);
          close(`input grad ${label} accumulate=${accumulate}`, dxNative, dxWasm, magnitudes(false, dy, wm, tokens, inDim, outDim).map((v, i) => v + (accumulate ? Math.abs(start[i]) : 0)));
        }
      }
    }
  });

for (const isa of isas)
  test(`native masked weight gradient rows equal wasm's, any row range: ${isa}`, { skip }, () => {
    addon!.setIsa(isa);
    for (const [tokens, inDim, outDim] of SHAPES) {
      const x = randn(tokens * inDim);
      const dy = randn(tokens * outDim);
      const w = randn(outDim * inDim);
      for (const [r0, r1] of [[0, outDim], [Math.floor(outDim / 3), outDim], [0, Math.ceil(outDim / 2)]]) {
        const gWasm = new Float32Array((r1 - r0) * inDim);
        maskedWeightGradRows(x, dy, w, tokens, inDim, outDim, r0, r1, gWasm);
        const gNative = new Float32Array((r1 - r0) * inDim).fill(NaN);
        addon!.maskedWeightGradRows(x, dy, w, tokens, inDim, outDim, r0, r1, gNative);
        const scale = Float32Array.from(gWasm, (_, at) => {
          const o = r0 + Math.floor(at / inDim);
          const i = at % inDim;
          let sum = 0;
          for (let t = 0; t < tokens; t++) sum += Math.abs(dy[t * outDim + o] * x[t * inDim + i] * w[o * inDim + i]);
          return sum;
        });
        close(`${isa} ${tokens}x${inDim}→${outDim} rows ${r0}..${r1}`, gNative, gWasm, scale);
      }
    }
  });

test("the native lm_head loss equals the wasm kernel's, with the lm_head packed once and the logits in row blocks", { skip }, () => {
  // vocab 32000: a window of 600 rows spans two row blocks (headLossRows); vocab 53: one block, a ragged tail lane
  for (const isa of isas)
    for (const [windows, seq, d, v] of [[1, 600, 37, 32000], [3, 7, 37, 52], [2, 5, 16, 53]]) {
      addon!.setIsa(isa);
      const rows = windows * seq;
      const x = randn(rows * d);
      const w = randn(v * d);
      const targets = Int32Array.from({ length: rows }, (_, i) => (i * 17) % v);
      const weights = Float32Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 0 : 1));
      const scale = Float32Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 0 : 0.5));
      const packed = new Float32Array(addon!.packedFloats(d, v));
      addon!.packTransposed(w, d, v, packed);
      const dxNative = new Float32Array(rows * d).fill(NaN);
      const totalsNative = new Float64Array(windows);
      addon!.headLoss(x, w, packed, targets, weights, scale, windows, seq, d, v, dxNative, totalsNative);
      const label = `${isa} ${windows}×${seq}, d ${d}, vocab ${v}`;
      // vocab 53 is not a multiple of 4, which the wasm kernel needs: checked against the reference below instead
      const dxRef = new Float32Array(rows * d);
      const totalsRef = new Float64Array(windows);
      if (v % 4 === 0) lmHeadLoss(x, w, targets, weights, scale, windows, seq, d, v, dxRef, totalsRef);
      else referenceHeadLoss(x, w, targets, weights, scale, windows, seq, d, v, dxRef, totalsRef);
      totalsRef.forEach((t, i) => assert.ok(Math.abs(t - totalsNative[i]) < 1e-5 * Math.abs(t), `${label} window ${i}: ${t} vs ${totalsNative[i]}`));
      // dlogits are ≤ 0.5 in size: Σ|dlogit·w| ≤ 0.5·Σ|w| down a column of W
      const column = Array.from({ length: d }, (_, i) => {
        let s = 0;
        for (let o = 0; o < v; o++) s += 0.5 * Math.abs(w[o * d + i]);
        return s;
      });
      const bound = Float32Array.from(dxRef, (_, at) => column[at % d]);
      close(`${label} dx`, dxNative, dxRef, bound);
    }
  addon!.setIsa(best);
  assert.throws(() => addon!.headLoss(randn(10), randn(8), new Float32Array(4), new Int32Array(2), new Float32Array(2), new Float32Array(2), 1, 2, 5, 4, new Float32Array(10), new Float64Array(1)), /lmHeadLoss: w has 8 values, expected 20/);
});

// the loss in float64, row by row: lse − x[t] weighted, and scale·(softmax − onehot)·W
function referenceHeadLoss(x: Float32Array, w: Float32Array, targets: Int32Array, weights: Float32Array, scale: Float32Array, windows: number, seq: number, d: number, v: number, dx: Float32Array, totals: Float64Array): void {
  for (let r = 0; r < windows * seq; r++) {
    const logits = Array.from({ length: v }, (_, o) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += x[r * d + i] * w[o * d + i];
      return s;
    });
    const mx = Math.max(...logits);
    const lse = mx + Math.log(logits.reduce((a, l) => a + Math.exp(l - mx), 0));
    totals[Math.floor(r / seq)] += weights[r] * (lse - logits[targets[r]]);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let o = 0; o < v; o++) s += scale[r] * (Math.exp(logits[o] - lse) - (o === targets[r] ? 1 : 0)) * w[o * d + i];
      dx[r * d + i] = s;
    }
  }
}

test("a native product's rows do not depend on how the tokens are split (what keeps a run thread-count-free)", { skip }, () => {
  const [tokens, inDim, outDim] = [41, 300, 70];
  const x = randn(tokens * inDim);
  const w = randn(outDim * inDim);
  const whole = new Float32Array(tokens * outDim);
  addon!.linear(true, x, w, null, null, null, 0, tokens, inDim, outDim, whole, false);
  const split = new Float32Array(tokens * outDim);
  for (const [t0, t1] of [[0, 17], [17, 41]]) addon!.linear(true, x.subarray(t0 * inDim, t1 * inDim), w, null, null, null, 0, t1 - t0, inDim, outDim, split.subarray(t0 * outDim, t1 * outDim), false);
  assert.deepEqual(split, whole);
  // and over shared memory, as the op pool's threads see their buffers
  const xs = new Float32Array(new SharedArrayBuffer(x.byteLength));
  xs.set(x);
  const ys = new Float32Array(new SharedArrayBuffer(whole.byteLength));
  addon!.linear(true, xs, w, null, null, null, 0, tokens, inDim, outDim, ys, false);
  assert.deepEqual(ys, whole);
});

for (const isa of isas)
  test(`B packed by parts into one buffer (packWeight) gives linear's bits (linearPacked), any split, group size and mask: ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    // 2:4-like m 4 (four groups to a register on AVX-512, with a tail), m 12, 8 and 2 (the four-weight and scalar paths)
    for (const [tokens, inDim, outDim, m] of [[13, 20, 37, 4], [29, 264, 33, 12], [7, 96, 70, 8], [5, 40, 3, 2]]) {
      const c = 3;
      const x = randn(tokens * inDim);
      const dy = randn(tokens * outDim);
      const w = randn(outDim * inDim);
      const mask = Float32Array.from({ length: w.length }, () => (rnd() > 0 ? 1 : 0));
      const s = Float32Array.from({ length: c * m }, () => (rnd() > 0 ? 1 : 0));
      const probs = Float32Array.from({ length: (w.length / m) * c }, () => rnd() + 0.5);
      for (const kind of ["plain", "hard", "soft"] as const)
        for (const forward of [true, false]) {
          const [mk, pr, sm, mm] = [kind === "hard" ? mask : null, kind === "soft" ? probs : null, kind === "soft" ? s : null, kind === "soft" ? m : 0];
          const a = forward ? x : dy;
          const n = forward ? outDim : inDim;
          const want = new Float32Array(tokens * n);
          addon!.linear(forward, a, w, mk, pr, sm, mm, tokens, inDim, outDim, want, false);
          for (const parts of [1, 2, 3]) {
            const packed = new Float32Array(addon!.packedFloats(forward ? inDim : outDim, n)).fill(NaN);
            for (let p = 0; p < parts; p++) {
              // W's output rows, B's columns forward and its rows in the input gradient
              const [o0, o1] = [Math.floor((p * outDim) / parts), Math.floor(((p + 1) * outDim) / parts)];
              addon!.packWeight(forward, w, mk, pr, sm, mm, inDim, outDim, packed, o0, o1);
            }
            const got = new Float32Array(tokens * n).fill(NaN);
            addon!.linearPacked(forward, a, packed, tokens, inDim, outDim, got, false);
            assert.deepEqual(got, want, `${isa} ${tokens}x${inDim}→${outDim} m=${m} ${kind} forward=${forward} parts=${parts}`);
          }
        }
    }
    addon!.setIsa(best);
    const w = randn(20);
    assert.throws(() => addon!.packWeight(true, w, null, null, null, 0, 4, 5, new Float32Array(3), 0, 5), /packWeight: 3 packed floats/);
    assert.throws(() => addon!.packWeight(true, w, null, null, null, 0, 4, 5, new Float32Array(addon!.packedFloats(4, 5)), 0, 6), /output rows 0..6, expected \d+ and rows within 5/);
    assert.throws(() => addon!.linearPacked(true, new Float32Array(8), new Float32Array(3), 2, 4, 5, new Float32Array(10), false), /linearPacked: 3 packed floats/);
  });

test("the addon refuses arrays that do not fit the shape with a RangeError", { skip }, () => {
  const x = new Float32Array(12);
  assert.throws(() => addon!.linear(true, x, new Float32Array(20), null, null, null, 0, 3, 4, 5, new Float32Array(14), false), RangeError);
  assert.throws(() => addon!.linear(true, x, new Float32Array(20), new Float32Array(3), null, null, 0, 3, 4, 5, new Float32Array(15), false), RangeError);
  assert.throws(() => addon!.linear(true, new Int32Array(12) as unknown as Float32Array, new Float32Array(20), null, null, null, 0, 3, 4, 5, new Float32Array(15), false), /Float32Array/);
  assert.throws(() => addon!.maskedWeightGradRows(x, new Float32Array(15), new Float32Array(20), 3, 4, 5, 2, 6, new Float32Array(16)), /rows/);
  // a wrong argument count, named (every function reads its arguments through one check)
  const call = (f: string, ...a: unknown[]) => (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[f](...a);
  for (const [f, n] of [["linear", 12], ["packWeight", 11], ["maskedWeightGradRows", 9], ["packedFloats", 2], ["packTransposed", 4], ["headLoss", 12], ["attentionForward", 7]] as const)
    assert.throws(() => call(f, 1), new RegExp(`: ${f}: ${n} arguments$`));
});

test("useNativeKernels: auto plugs the addon into the host trainer where it loads, off keeps wasm", () => {
  addon?.setIsa(best);
  const on = useNativeKernels("auto");
  assert.equal(nativeKernelsMode(), "auto");
  if (addon) {
    assert.equal(on.kernels, best);
    assert.equal(linearKernels()?.isa(), best);
  } else assert.equal(on.kernels, "wasm");
  const off = useNativeKernels("off");
  assert.deepEqual([off.kernels, nativeKernelsMode(), linearKernels()], ["wasm", "off", undefined]);
});
