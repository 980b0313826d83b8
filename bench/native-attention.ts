// Single-thread time of the host trainer's causal attention, forward and backward: the wasm kernel (as
// src/maskllm/host/ops.ts calls it) against the native addon (src/native/attention.cc, `npm run build:native`) with
// each tile the CPU has, at the 42M/110M models' attention shapes of bench:scale (4 windows of 256, 8 or 12 heads
// of 64), plus the native results' largest error against wasm's over each array's norm.
// Run: npm run bench:native-attention [-- --batch 4 --seq 256 --reps 3 --shapes 8x64,12x64 (heads x headDim)]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { parseArgs } from "node:util";
import { attentionBackward, attentionForward, type RopeValues } from "../src/maskllm/kernels/attention-module.js";
import { loadNativeAddon } from "../src/native/loader.js";

const { values: a } = parseArgs({
  options: {
    batch: { type: "string", default: "4" },
    seq: { type: "string", default: "256" },
    reps: { type: "string", default: "3" },
    shapes: { type: "string", default: "8x64,12x64" },
  },
});
const [batch, seq, reps] = [Number(a.batch), Number(a.seq), Number(a.reps)];
const addon = loadNativeAddon();
if (!addon?.attentionForward || !addon.attentionBackward) throw new Error("the native addon (with attention) is not built or this CPU lacks AVX2+FMA: npm run build:native");
const best = addon.isa();
const isas = best === "avx512" ? ["avx512", "avx2"] : [best];

let seed = 7;
const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296 - 0.5;

function time(f: () => void): number {
  let min = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

function rope(hd: number): RopeValues {
  const cos = new Float32Array(seq * hd);
  const sin = new Float32Array(seq * hd);
  for (let i = 0; i < seq; i++)
    for (let d = 0; d < hd; d++) {
      const angle = i / Math.pow(10000, (2 * (d % (hd / 2))) / hd);
      [cos[i * hd + d], sin[i * hd + d]] = [Math.cos(angle), Math.sin(angle)];
    }
  return { cosQ: cos.map((x) => x / Math.sqrt(hd)), sinQ: sin.map((x) => x / Math.sqrt(hd)), cosK: cos, sinK: sin };
}

function relErr(got: Float32Array, want: Float32Array): number {
  let e = 0, m = 0;
  want.forEach((x, i) => ((e = Math.max(e, Math.abs(got[i] - x))), (m = Math.max(m, Math.abs(x)))));
  return e / m;
}

const rows: string[] = [];
for (const shape of a.shapes!.split(",")) {
  const [heads, hd] = shape.split("x").map(Number);
  const s = { batch, seq, heads, kvHeads: heads, headDim: hd };
  const n = batch * seq * heads * hd;
  const [q, k, v, dO] = [0, 1, 2, 3].map(() => Float32Array.from({ length: n }, () => uniform() * 4));
  const r = rope(hd);
  const o = new Float32Array(n), lse = new Float32Array(batch * heads * seq);
  const [dq, dk, dv] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  // causal products, 2·hd flops a visible (query, key) pair each: two forward, five backward
  const pairs = batch * heads * ((seq * (seq + 1)) / 2);
  const gflops = (products: number, ms: number) => ((products * 2 * hd * pairs) / ms / 1e6).toFixed(1);
  const fwdW = time(() => attentionForward(s, q, k, v, r, o, lse));
  const bwdW = time(() => attentionBackward(s, q, k, v, o, lse, dO, r, dq, dk, dv));
  const want = [o, lse, dq, dk, dv].map((x) => x.slice());
  const cells = [`${heads}x${hd}`, `${fwdW.toFixed(1)} (${gflops(2, fwdW)})`, `${bwdW.toFixed(1)} (${gflops(5, bwdW)})`];
  for (const isa of isas) {
    addon.setIsa(isa);
    const fwd = time(() => addon.attentionForward!(s, q, k, v, r, o, lse));
    const bwd = time(() => addon.attentionBackward!(s, q, k, v, o, lse, dO, r, dq, dk, dv));
    const err = Math.max(...[o, lse, dq, dk, dv].map((x, i) => relErr(x, want[i])));
    cells.push(`${fwd.toFixed(2)} (${gflops(2, fwd)})`, `${bwd.toFixed(2)} (${gflops(5, bwd)})`, `${(fwdW / fwd).toFixed(1)}x / ${(bwdW / bwd).toFixed(1)}x`, err.toExponential(1));
  }
  addon.setIsa(best);
  rows.push(cells.join(" | "));
  process.stderr.write(`${rows.at(-1)}\n`);
}
const head = ["heads x hd", "wasm fwd ms (GFLOP/s)", "wasm bwd ms (GFLOP/s)", ...isas.flatMap((i) => [`${i} fwd ms (GFLOP/s)`, `${i} bwd ms (GFLOP/s)`, `${i}/wasm fwd / bwd`, `${i} err/norm`])];
console.log(`batch ${batch} x seq ${seq}, single thread, best of ${reps}\n| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|\n${rows.map((r) => `| ${r} |`).join("\n")}`);
