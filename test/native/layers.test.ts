// The native addon's elementwise layers (src/native/layers.cc) against the wasm kernels they replace, bit for bit:
// RMSNorm forward and backward (dx set and added to) and SwiGLU forward and backward, on widths and lengths that
// leave partial vectors, with each tile the CPU has; then the host ops' native paths whole or in uneven pieces, and
// the wasm wrappers' messages for bad lengths. Skipped where the addon is not built or the CPU lacks AVX2+FMA.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmsNormBackward, rmsNormForward, swigluBackward, swigluForward } from "../../src/maskllm/kernels/layers-module.js";
import { runRange, splitAxis, type HostOp } from "../../src/maskllm/host/ops.js";
import { setLinearKernels } from "../../src/maskllm/host/linear-kernels.js";
import { nativeAddonUnderTest, seededUniform } from "../helpers/native-addon.js";

const { addon, skip, isas } = nativeAddonUnderTest();

const rnd = seededUniform(7);
const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rnd());

function same(label: string, a: Float32Array, b: Float32Array): void {
  assert.equal(a.length, b.length, label);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${label}: [${i}] ${a[i]} vs ${b[i]}`);
}

// widths with and without a tail past the last 4 and the last 16; gates wide enough to reach exp's clamps
const SHAPES = [[1, 1], [3, 5], [2, 16], [7, 37], [5, 768], [2, 1030]] as const;

for (const isa of isas) {
  test(`native RMSNorm and SwiGLU, forward and backward, are the wasm kernels' bits: ${isa}`, { skip }, () => {
    assert.equal(addon!.setIsa(isa), isa);
    for (const [rows, n] of SHAPES) {
      const x = uniform(rows * n, -3, 3);
      const w = uniform(n, 0.5, 1.5);
      const dy = uniform(rows * n, -1, 1);
      const [y, r, yn, rn] = [new Float32Array(rows * n), new Float32Array(rows), new Float32Array(rows * n), new Float32Array(rows)];
      rmsNormForward(x, w, rows, n, 1e-5, y, r);
      addon!.rmsNorm(x, w, yn, rn, rows, n, 1e-5);
      same(`rmsNorm y ${rows}x${n}`, yn, y);
      same(`rmsNorm r ${rows}x${n}`, rn, r);
      const dx = new Float32Array(rows * n);
      rmsNormBackward(x, w, r, dy, rows, n, dx, new Float32Array(n));
      const dxn = uniform(rows * n, -1, 1); // overwritten
      addon!.rmsNormBackward(x, w, r, dy, dxn, rows, n, false);
      same(`rmsNormBackward dx ${rows}x${n}`, dxn, dx);
      // accumulate: what the wasm path does (its dx into scratch, then added in f32)
      const base = uniform(rows * n, -1, 1);
      const want = base.map((v, i) => v + dx[i]);
      addon!.rmsNormBackward(x, w, r, dy, base, rows, n, true);
      same(`rmsNormBackward dx += ${rows}x${n}`, base, want);

      const len = rows * n;
      const [g, u, dh] = [uniform(len, -100, 100).map((v, i) => (i % 3 ? v / 20 : v)), uniform(len, -2, 2), uniform(len, -1, 1)];
      const [h, s, hn, sn] = [0, 0, 0, 0].map(() => new Float32Array(len));
      swigluForward(g, u, h, s);
      addon!.swiglu(g, u, hn, sn);
      same(`swiglu h ${len}`, hn, h);
      same(`swiglu s ${len}`, sn, s);
      const [dg, du, dgn, dun] = [0, 0, 0, 0].map(() => new Float32Array(len));
      swigluBackward(g, u, s, dh, dg, du);
      addon!.swigluBackward(g, u, s, dh, dgn, dun);
      same(`swigluBackward dg ${len}`, dgn, dg);
      same(`swigluBackward du ${len}`, dun, du);
    }
  });
}

test("the host ops' native layer paths give wasm's bits, whole or in 3 uneven pieces", { skip }, () => {
  const [rows, n] = [37, 52];
  const [x, w, dy, g, u, dh] = [uniform(rows * n, -2, 2), uniform(n, 0.5, 1.5), uniform(rows * n, -1, 1), uniform(rows * n, -9, 9), uniform(rows * n, -1, 1), uniform(rows * n, -1, 1)];
  const r = new Float32Array(rows);
  rmsNormForward(x, w, rows, n, 1e-6, new Float32Array(rows * n), r);
  const dx0 = uniform(rows * n, -1, 1);
  const s = new Float32Array(rows * n);
  swigluForward(g, u, new Float32Array(rows * n), s);
  const cases: [string, () => HostOp, (op: HostOp) => Float32Array[]][] = [
    ["rmsNorm", () => ({ kind: "rmsNorm", x, w, y: new Float32Array(rows * n), r: new Float32Array(rows), rows, n, eps: 1e-6 }), (op) => { const o = op as { y: Float32Array; r: Float32Array }; return [o.y, o.r]; }],
    ...[false, true].map((accumulate): [string, () => HostOp, (op: HostOp) => Float32Array[]] => [
      `rmsNormBackward${accumulate ? " +=" : ""}`,
      () => ({ kind: "rmsNormBackward", x, w, r, dy, dx: dx0.slice(), accumulate, rows, n }),
      (op) => [(op as { dx: Float32Array }).dx],
    ]),
    ["swiglu", () => ({ kind: "swiglu", g, u, h: new Float32Array(rows * n), s: new Float32Array(rows * n) }), (op) => { const o = op as { h: Float32Array; s: Float32Array }; return [o.h, o.s]; }],
    ["swigluBackward", () => ({ kind: "swigluBackward", g, u, s, dh, dg: new Float32Array(rows * n), du: new Float32Array(rows * n) }), (op) => { const o = op as { dg: Float32Array; du: Float32Array }; return [o.dg, o.du]; }],
  ];
  const run = (make: () => HostOp, outputs: (op: HostOp) => Float32Array[], pieces: number) => {
    const op = make();
    const items = splitAxis(op).items;
    const cuts = [0, ...Array.from({ length: pieces - 1 }, (_, i) => Math.floor(((i + 1) * items) / pieces) + 1), items];
    for (let i = 0; i + 1 < cuts.length; i++) runRange(op, cuts[i], cuts[i + 1]);
    return outputs(op);
  };
  for (const [name, make, outputs] of cases) {
    setLinearKernels(undefined);
    const wasm = run(make, outputs, 1);
    setLinearKernels(addon);
    const [one, three] = [run(make, outputs, 1), run(make, outputs, 3)];
    one.forEach((a, i) => same(`${name} [${i}] native vs wasm`, a, wasm[i]));
    three.forEach((a, i) => same(`${name} [${i}] 3 pieces vs 1`, a, one[i]));
  }
  setLinearKernels(undefined);
});

test("native layers reject wrong lengths with the wasm wrappers' messages", { skip }, () => {
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => addon!.rmsNorm(f(12), f(4), f(12), f(2), 3, 4, 1e-5), /rmsNorm r has 2 values, expected 3/);
  assert.throws(() => addon!.rmsNormBackward(f(12), f(4), f(3), f(11), f(12), 3, 4, false), /rmsNorm dy has 11 values, expected 12/);
  assert.throws(() => addon!.swiglu(f(8), f(8), f(7), f(8)), /swiglu out has 7 values, expected 8/);
  assert.throws(() => addon!.swigluBackward(f(8), f(8), f(8), f(8), f(8), f(9)), /swiglu dup has 9 values, expected 8/);
  assert.throws(() => (addon!.swiglu as (...a: unknown[]) => void)(f(8), f(8), f(8)), /swiglu: 4 arguments/);
  assert.throws(() => (addon!.rmsNorm as (...a: unknown[]) => void)(new Float64Array(12), f(4), f(12), f(3), 3, 4, 1e-5), /expected a Float32Array/);
});
