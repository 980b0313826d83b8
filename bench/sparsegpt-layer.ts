// SparseGPT on one large linear layer (default 4096×4096, 2:4) with 128×2048 calibration tokens: the time of each
// phase (H = 2XᵀX/n accumulation on TF.js, the Float64 inverse-Cholesky, the OBS sweep) and the peak memory.
// Activations are synthetic (heavy-tailed per-feature scales plus a shared low-rank part, like LLM hidden states)
// and are fed chunk by chunk through the same StatsCollector the calibration uses.
// Run: npm run bench:sparsegpt-layer [-- --rows 4096 --cols 4096 --tokens 262144 --chunk 2048 --pattern 2:4]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendChoice } from "../src/maskllm/backend.js";
import { StatsCollector } from "../src/maskllm/prune/calibration-stats.js";
import { sparseGpt } from "../src/maskllm/prune/sparsegpt.js";
import { parsePattern } from "../src/maskllm/mask/patterns.js";
import { verifyNMMask } from "../src/maskllm/mask/verify.js";

const { values: a } = parseArgs({
  options: {
    rows: { type: "string", default: "4096" },
    cols: { type: "string", default: "4096" },
    tokens: { type: "string", default: String(128 * 2048) },
    chunk: { type: "string", default: "2048" },
    pattern: { type: "string", default: "2:4" },
    backend: { type: "string", default: "wasm" },
    "mask-only": { type: "boolean", default: false },
  },
});
const rows = Number(a.rows), cols = Number(a.cols), tokens = Number(a.tokens), chunk = Number(a.chunk);
const pattern = parsePattern(a.pattern!);
const backend = await initBackend(a.backend as BackendChoice);
const mib = (b: number) => Math.round(b / 2 ** 20);
const peak = () => mib(process.resourceUsage().maxRSS * 1024);
const log = (s: string) => process.stderr.write(`${s}\n`);

// weights ~ N(0, 1/cols) from a seeded generator
let seed = 12345;
const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
const weight = Float32Array.from({ length: rows * cols }, () => gauss() / Math.sqrt(cols));

const t0 = performance.now();
const name = "layer.weight";
const collector = new StatsCollector("gram", new Set([name]));
const rank = 64;
const scales = tf.tensor1d(Float32Array.from({ length: cols }, (_, j) => 0.5 + (j % 97 === 0 ? 20 : 1) * uniform()));
const basis = tf.randomNormal([rank, cols], 0, 1, "float32", 7);
for (let done = 0, i = 0; done < tokens; done += chunk, i++) {
  const n = Math.min(chunk, tokens - done);
  const x = tf.tidy(() => tf.add(tf.mul(tf.randomNormal([n, cols], 0, 1, "float32", 100 + i), scales), tf.matMul(tf.randomNormal([n, rank], 0, 1, "float32", 5000 + i), basis))) as tf.Tensor2D;
  collector.onLinearInput(name, x);
  collector.endBatch();
  x.dispose();
  if (i % 16 === 15) log(`H: ${done + n}/${tokens} tokens, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
tf.dispose([scales, basis]);
const stats = collector.stats.get(name)!;
const h = stats.sums;
for (let i = 0; i < h.length; i++) h[i] *= 2 / stats.tokens;
const hessianSeconds = (performance.now() - t0) / 1000;
log(`H done in ${hessianSeconds.toFixed(1)} s; peak RSS ${peak()} MiB`);

const t1 = performance.now();
const r = sparseGpt(weight, rows, cols, h, { pattern, update: !a["mask-only"] });
const sparsegptSeconds = (performance.now() - t1) / 1000;
const verified = verifyNMMask(r.mask, rows, cols, pattern).ok;
const mem = process.memoryUsage();
console.log(`SparseGPT ${a["mask-only"] ? "mask only" : "with update"} ${a.pattern} on ${rows}×${cols} with ${tokens} calibration tokens (${backend}):`);
console.log(`  H accumulation ${hessianSeconds.toFixed(1)} s, SparseGPT ${sparsegptSeconds.toFixed(1)} s, N:M verified ${verified}, loss ${r.loss.toExponential(3)}`);
console.log(`  peak RSS ${peak()} MiB (heap now ${mib(mem.heapUsed)} MiB, array buffers ${mib(mem.arrayBuffers)} MiB)`);
console.log(JSON.stringify({
  bench: "sparsegpt-layer", rows, cols, tokens, pattern: a.pattern, update: !a["mask-only"], backend,
  hessianSeconds, sparsegptSeconds, peakRssMiB: peak(), verified, loss: r.loss, deadColumns: r.deadColumns,
}));
