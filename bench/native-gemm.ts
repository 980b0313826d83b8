// Single-thread GFLOP/s of the linear layer's product y [T, out] = x [T, in]·W [out, in]ᵀ: the wasm kernel (the
// FMA build, called as src/maskllm/host/ops.ts calls it) against the native addon (src/native, `npm run
// build:native`) with its AVX-512 and its AVX2 tile, at the 42M/110M models' shapes of bench:scale, plus each
// native result's error against a float64 reference on sampled rows.
// --mask hard|soft times the masked products instead (W ⊙ M, or M̃ formed from 2:4's six candidates while packing);
// the error check is of the plain product only.
// Run: npm run bench:native-gemm [-- --tokens 1024 --reps 3 --shapes 768x768,2048x768,… --mask none|hard|soft]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { parseArgs } from "node:util";
import { linearForward, softLinearForward } from "../src/maskllm/kernels/matmul-module.js";
import { loadNativeAddon } from "../src/native/loader.js";

const { values: a } = parseArgs({
  options: {
    tokens: { type: "string", default: "1024" },
    reps: { type: "string", default: "3" },
    shapes: { type: "string", default: "768x768,2048x768,768x2048,512x512,1376x512,512x1376,32000x768" },
    mask: { type: "string", default: "none" },
  },
});
const tokens = Number(a.tokens);
const reps = Number(a.reps);
const addon = loadNativeAddon();
if (!addon) throw new Error("the native addon is not built or this CPU lacks AVX2+FMA: npm run build:native");
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
  return min / 1000;
}

// max over sampled rows of |y − ref| / Σ|x||w| (the error bound's scale) and the norm-wise ‖y − ref‖/‖ref‖
function error(x: Float32Array, w: Float32Array, y: Float32Array, inDim: number, outDim: number): [number, number] {
  let worst = 0, num = 0, den = 0;
  for (let t = 0; t < tokens; t += Math.max(1, Math.floor(tokens / 16))) {
    for (let o = 0; o < outDim; o++) {
      let ref = 0, mag = 0;
      for (let i = 0; i < inDim; i++) {
        const p = x[t * inDim + i] * w[o * inDim + i];
        ref += p;
        mag += Math.abs(p);
      }
      const d = y[t * outDim + o] - ref;
      worst = Math.max(worst, Math.abs(d) / mag);
      num += d * d;
      den += ref * ref;
    }
  }
  return [worst, Math.sqrt(num / den)];
}

const maskKind = a.mask!;
if (!["none", "hard", "soft"].includes(maskKind)) throw new Error(`--mask takes none, hard or soft, got ${maskKind}`);
// 2:4's six candidates as S [6, 4]
const S = Float32Array.from([1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1]);

const rows: string[] = [];
for (const shape of a.shapes!.split(",")) {
  const [outDim, inDim] = shape.split("x").map(Number);
  const x = Float32Array.from({ length: tokens * inDim }, uniform);
  const w = Float32Array.from({ length: outDim * inDim }, uniform);
  const y = new Float32Array(tokens * outDim);
  const flop = 2 * tokens * inDim * outDim;
  const mask = maskKind === "hard" ? Float32Array.from(w, (_, i) => (i % 4 < 2 ? 1 : 0)) : undefined;
  const probs = maskKind === "soft" ? Float32Array.from({ length: (w.length / 4) * 6 }, () => uniform() + 0.5) : undefined;
  const wasmRun = () => (probs ? softLinearForward(x, w, { probs, s: S, m: 4 }, tokens, inDim, outDim, y) : linearForward(x, w, mask, tokens, inDim, outDim, y));
  const nativeRun = () => addon.linear(true, x, w, mask ?? null, probs ?? null, probs ? S : null, probs ? 4 : 0, tokens, inDim, outDim, y, false);
  if (maskKind !== "none") {
    const wasmMasked = flop / time(wasmRun) / 1e9;
    const cells = [`${outDim}x${inDim} ${maskKind}`, wasmMasked.toFixed(1), "-"];
    for (const isa of isas) {
      addon.setIsa(isa);
      const g = flop / time(nativeRun) / 1e9;
      cells.push(g.toFixed(1), `${(g / wasmMasked).toFixed(2)}x`, "-");
    }
    addon.setIsa(best);
    rows.push(cells.join(" | "));
    process.stderr.write(`${rows.at(-1)}\n`);
    continue;
  }
  const wasm = flop / time(() => linearForward(x, w, undefined, tokens, inDim, outDim, y)) / 1e9;
  const [wasmErr] = error(x, w, y, inDim, outDim);
  const cells = [`${outDim}x${inDim}`, wasm.toFixed(1), wasmErr.toExponential(1)];
  for (const isa of isas) {
    addon.setIsa(isa);
    y.fill(NaN);
    const g = flop / time(() => addon.linear(true, x, w, null, null, null, 0, tokens, inDim, outDim, y, false)) / 1e9;
    const [worst, norm] = error(x, w, y, inDim, outDim);
    cells.push(g.toFixed(1), `${(g / wasm).toFixed(2)}x`, `${worst.toExponential(1)}/${norm.toExponential(1)}`);
  }
  addon.setIsa(best);
  rows.push(cells.join(" | "));
  process.stderr.write(`${rows.at(-1)}\n`);
}
const head = ["out x in", "wasm GFLOP/s", "wasm err", ...isas.flatMap((i) => [`${i} GFLOP/s`, `${i}/wasm`, `${i} err (elem/norm)`])];
console.log(`T = ${tokens}, single thread, best of ${reps}\n| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|\n${rows.map((r) => `| ${r} |`).join("\n")}`);
