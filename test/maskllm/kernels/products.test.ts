// The blocked, packed products of kernels/assembly/matmul.ts against float64 references, on shapes that cross its
// blocks (the shared dimension past KC = 256, rows past MC = 96, columns off the 8-wide panels, rows off the 4-row
// tiles), for every way a product is fed: plain, masked, M̃ formed from ỹ while packing, accumulated, row slices.
import { test } from "node:test";
import assert from "node:assert/strict";
import { gemm, linearForward, linearInputGrad, maskedWeightGradRows, softLinearForward, softLinearInputGrad } from "../../../src/maskllm/kernels/matmul-module.js";
import { candidateMatrixValues } from "../../../src/maskllm/mask/patterns.js";
import { mulberry32 } from "../../../src/maskllm/train/rng.js";

const next = mulberry32(11);
const rnd = (n: number) => Float32Array.from({ length: n }, () => next() * 2 - 1);

/** c [m, n] = a [m, k]·b [k, n] in float64; a and b read through index functions. */
function ref(m: number, k: number, n: number, a: (i: number, r: number) => number, b: (r: number, j: number) => number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let r = 0; r < k; r++) for (let j = 0; j < n; j++) c[i * n + j] += a(i, r) * b(r, j);
  return c;
}

function close(name: string, got: Float32Array, want: ArrayLike<number>, k: number): void {
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst < 2e-6 * k, `${name}: off by ${worst}`);
}

const shapes: [number, number, number][] = [
  [1, 4, 1],
  [5, 12, 7],
  [97, 260, 13],
  [200, 516, 36],
  [33, 8, 300],
  [70, 8, 65536], // more rows than one call takes (the chunks of 4M floats): A and C go through in chunks
];

test("gemm and the linear products equal float64 references across block edges", () => {
  for (const [m, k, n] of shapes) {
    const a = rnd(m * k);
    const b = rnd(k * n);
    const c = new Float32Array(m * n);
    gemm(a, b, m, k, n, c);
    close(`gemm ${m}×${k}×${n}`, c, ref(m, k, n, (i, r) => a[i * k + r], (r, j) => b[r * n + j]), k);

    // x [m, k], w [n, k] (out = n, in = k), mask [n, k]
    const w = rnd(n * k);
    const mask = rnd(n * k);
    const y = new Float32Array(m * n);
    linearForward(a, w, mask, m, k, n, y);
    close(`linearForward ${m}×${k}×${n}`, y, ref(m, k, n, (i, r) => a[i * k + r], (r, j) => w[j * k + r] * mask[j * k + r]), k);
    linearForward(a, w, undefined, m, k, n, y);
    close(`linearForward unmasked ${m}×${k}×${n}`, y, ref(m, k, n, (i, r) => a[i * k + r], (r, j) => w[j * k + r]), k);

    // dy [m, n] → dx [m, k], then accumulated once more
    const dy = rnd(m * n);
    const dx = new Float32Array(m * k);
    const want = ref(m, n, k, (i, r) => dy[i * n + r], (r, j) => w[r * k + j] * mask[r * k + j]);
    linearInputGrad(dy, w, mask, m, k, n, dx);
    close(`linearInputGrad ${m}×${k}×${n}`, dx, want, n);
    linearInputGrad(dy, w, mask, m, k, n, dx, true);
    close(`linearInputGrad accumulated ${m}×${k}×${n}`, dx, want.map((v) => 2 * v), n);

    // g rows r0..r1 of (dyᵀ·x) ⊙ w
    const r0 = Math.floor(n / 3);
    const r1 = n;
    const g = new Float32Array((r1 - r0) * k);
    maskedWeightGradRows(a, dy, w, m, k, n, r0, r1, g);
    close(`maskedWeightGrad rows ${r0}..${r1} of ${m}×${k}×${n}`, g, ref(r1 - r0, m, k, (o, t) => dy[t * n + r0 + o], (t, i) => a[t * k + i]).map((v, idx) => v * w[r0 * k + idx]), m);
  }
});

test("products with M̃ formed from ỹ while packing equal those with M̃ given (2:4 and 4:8)", () => {
  for (const p of [{ n: 2, m: 4 }, { n: 4, m: 8 }]) {
    const s = candidateMatrixValues(p);
    const c = s.length / p.m;
    for (const [tokens, inDim, outDim] of [[37, 264, 20], [100, 16, 9]] as const) {
      const groups = (outDim * inDim) / p.m;
      const probs = Float32Array.from({ length: groups * c }, () => next());
      const mask = new Float32Array(outDim * inDim);
      for (let g = 0; g < groups; g++) for (let i = 0; i < p.m; i++) for (let j = 0; j < c; j++) mask[g * p.m + i] += probs[g * c + j] * s[j * p.m + i];
      const x = rnd(tokens * inDim);
      const w = rnd(outDim * inDim);
      const y1 = new Float32Array(tokens * outDim);
      const y2 = new Float32Array(tokens * outDim);
      linearForward(x, w, mask, tokens, inDim, outDim, y1);
      softLinearForward(x, w, { probs, s, m: p.m }, tokens, inDim, outDim, y2);
      close(`softLinearForward ${p.n}:${p.m}`, y2, y1, inDim);
      const dy = rnd(tokens * outDim);
      const d1 = new Float32Array(tokens * inDim);
      const d2 = new Float32Array(tokens * inDim);
      linearInputGrad(dy, w, mask, tokens, inDim, outDim, d1);
      softLinearInputGrad(dy, w, { probs, s, m: p.m }, tokens, inDim, outDim, d2);
      close(`softLinearInputGrad ${p.n}:${p.m}`, d2, d1, outDim);
    }
  }
  assert.throws(() => softLinearForward(new Float32Array(6), new Float32Array(6), { probs: new Float32Array(3), s: candidateMatrixValues({ n: 1, m: 2 }), m: 2 }, 1, 6, 1, new Float32Array(1)), /not a multiple of 4/);
});

test("the GEMM's FMA build (relaxed SIMD) and its plain build agree; the loader takes the FMA one where it compiles", async () => {
  const { MATMUL_WASM_BASE64 } = await import("../../../src/maskllm/kernels/matmul-binary.js");
  const { MATMUL_FMA_WASM_BASE64 } = await import("../../../src/maskllm/kernels/matmul-fma-binary.js");
  const bytes = (b: string) => Uint8Array.from(atob(b), (ch) => ch.charCodeAt(0));
  // the test command imports src/runtime/relaxed-simd.mjs, as the entry points do
  assert.ok(WebAssembly.validate(bytes(MATMUL_FMA_WASM_BASE64)), "relaxed SIMD is on in this process");
  const [m, k, n] = [37, 300, 21];
  const a = rnd(m * k);
  const b = rnd(k * n);
  const out = [MATMUL_WASM_BASE64, MATMUL_FMA_WASM_BASE64].map((b64) => {
    type Exports = { memory: WebAssembly.Memory; heapBase(): number; packScratchBytes(m: number, k: number, n: number): number; packedBytes(k: number, n: number): number; packInputGrad(...args: number[]): void; gemmPacked(...args: number[]): void };
    const x = new WebAssembly.Instance(new WebAssembly.Module(bytes(b64)), {}).exports as unknown as Exports;
    // b as a weight [out = k, in = n] packed for the input-gradient product, as gemm() does
    const pa = (x.heapBase() + 15) & ~15;
    const pb = pa + a.byteLength + 16;
    const pc = pb + b.byteLength + 16;
    const pp = pc + m * n * 4 + 16;
    const pblock = pp + x.packedBytes(k, n);
    const need = pp + x.packScratchBytes(m, k, n);
    if (need > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / 65536));
    new Float32Array(x.memory.buffer, pa, a.length).set(a);
    new Float32Array(x.memory.buffer, pb, b.length).set(b);
    x.packInputGrad(pb, 0, 0, 0, 0, 0, 0, n, k, pp);
    x.gemmPacked(pa, pp, pc, 0, m, k, n, pblock);
    return new Float32Array(x.memory.buffer, pc, m * n).slice();
  });
  close("plain vs FMA build", out[1], out[0], k);
  const c = new Float32Array(m * n);
  gemm(a, b, m, k, n, c);
  assert.deepEqual(c, out[1], "the module function runs the FMA build");
});
