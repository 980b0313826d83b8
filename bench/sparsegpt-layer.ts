// SparseGPT on one large linear layer (default 4096×4096, 2:4) with 128×2048 calibration tokens: the time of each
// phase (H = 2XᵀX/n accumulation, the inverse-Cholesky, the OBS sweep) and the peak memory. H is accumulated the way
// layer-by-layer pruning does it (prune/gram.ts: our GEMM, upper triangle, --threads threads) or, with --stats tf, the
// way the in-memory pruner does (calibration-stats.ts on TF.js), so the two can be compared in one run. Mask-only
// runs factor H in float32 on the threads (sparseGptMaskF32) unless --stats tf.
// Activations are synthetic (heavy-tailed per-feature scales plus a shared low-rank part, like LLM hidden states)
// and are fed chunk by chunk.
// Run: npm run bench:sparsegpt-layer [-- --rows 4096 --cols 4096 --tokens 262144 --chunk 2048 --pattern 2:4
//                                        --threads 2 --stats gemm|tf --mask-only]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendChoice } from "../src/maskllm/backend.js";
import { StatsCollector } from "../src/maskllm/prune/calibration-stats.js";
import { sparseGpt, sparseGptMaskF32 } from "../src/maskllm/prune/sparsegpt.js";
import { GramAccumulator, symmetricFromUpper } from "../src/maskllm/prune/gram.js";
import { InlineExecutor } from "../src/maskllm/host/ops.js";
import { OpPool } from "../src/parallel/op-pool.js";
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
    threads: { type: "string", default: "2" },
    stats: { type: "string", default: "gemm" },
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

const threads = Number(a.threads);
const useGemm = a.stats !== "tf";
const pool = useGemm && threads > 1 ? await OpPool.start(threads) : undefined;
const exec = pool ?? new InlineExecutor();
const t0 = performance.now();
let hessianSeconds = 0; // the accumulation alone, not the synthetic activations' generation
const name = "layer.weight";
const collector = new StatsCollector("gram", new Set([name]));
const gram = useGemm ? new GramAccumulator(exec, cols, chunk) : undefined;
const xHost = useGemm ? exec.f32(chunk * cols) : undefined;
const g = new Float64Array(useGemm ? cols * cols : 0);
const rank = 64;
const scales = tf.tensor1d(Float32Array.from({ length: cols }, (_, j) => 0.5 + (j % 97 === 0 ? 20 : 1) * uniform()));
const basis = tf.randomNormal([rank, cols], 0, 1, "float32", 7);
for (let done = 0, i = 0; done < tokens; done += chunk, i++) {
  const n = Math.min(chunk, tokens - done);
  const x = tf.tidy(() => tf.add(tf.mul(tf.randomNormal([n, cols], 0, 1, "float32", 100 + i), scales), tf.matMul(tf.randomNormal([n, rank], 0, 1, "float32", 5000 + i), basis))) as tf.Tensor2D;
  if (gram && xHost) {
    xHost.set(x.dataSync() as Float32Array);
    const s = performance.now();
    gram.add(xHost.subarray(0, n * cols), n, cols, g);
    hessianSeconds += (performance.now() - s) / 1000;
  } else {
    const s = performance.now();
    collector.onLinearInput(name, x);
    collector.endBatch();
    hessianSeconds += (performance.now() - s) / 1000;
  }
  x.dispose();
  if (i % 16 === 15) log(`H: ${done + n}/${tokens} tokens, ${((performance.now() - t0) / 1000).toFixed(0)} s (accumulating ${hessianSeconds.toFixed(0)} s)`);
}
tf.dispose([scales, basis]);
let h: Float64Array;
if (gram) {
  h = new Float64Array(cols * cols);
  symmetricFromUpper(g, cols, 2 / tokens, h);
} else {
  const stats = collector.stats.get(name)!;
  h = stats.sums;
  for (let i = 0; i < h.length; i++) h[i] *= 2 / stats.tokens;
}
log(`H done: ${hessianSeconds.toFixed(1)} s accumulating (${useGemm ? `our GEMM, ${threads} threads` : "TF.js"}); peak RSS ${peak()} MiB`);

const t1 = performance.now();
const r = a["mask-only"] && useGemm
  ? sparseGptMaskF32(weight, rows, cols, Float32Array.from(h), { pattern }, exec)
  : sparseGpt(weight, rows, cols, h, { pattern, update: !a["mask-only"] });
const sparsegptSeconds = (performance.now() - t1) / 1000;
await pool?.close();
const verified = verifyNMMask(r.mask, rows, cols, pattern).ok;
const mem = process.memoryUsage();
console.log(`SparseGPT ${a["mask-only"] ? "mask only" : "with update"} ${a.pattern} on ${rows}×${cols} with ${tokens} calibration tokens (${backend}; H on ${useGemm ? `our GEMM, ${threads} threads` : "TF.js"}):`);
console.log(`  H accumulation ${hessianSeconds.toFixed(1)} s, SparseGPT ${sparsegptSeconds.toFixed(1)} s, N:M verified ${verified}, loss ${r.loss.toExponential(3)}`);
console.log(`  peak RSS ${peak()} MiB (heap now ${mib(mem.heapUsed)} MiB, array buffers ${mib(mem.arrayBuffers)} MiB)`);
console.log(JSON.stringify({
  bench: "sparsegpt-layer", rows, cols, tokens, pattern: a.pattern, update: !a["mask-only"], backend, stats: useGemm ? "gemm" : "tf", threads: useGemm ? threads : 1,
  hessianSeconds, sparsegptSeconds, peakRssMiB: peak(), verified, loss: r.loss, deadColumns: r.deadColumns,
}));
