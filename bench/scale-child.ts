// One bench:scale measurement in its own process (bench/scale.ts spawns it), so that its peak RSS is this process's
// alone and a crash fails one shape, not the bench. Builds the seeded random model straight into the training
// threads' shared buffers (the host trainer's weights: no TF.js copy), a magnitude 2:4 prior, and runs the real
// trainMasks for warm-up + measured steps on --threads threads; prints one JSON line {"scaleChild": ...} on stdout
// (with "error" on failure) holding also the trainer's own memory estimate (host/memory.ts) and our GEMM's
// one-thread rate measured right after the steps, progress on stderr.
//   node --import tsx bench/scale-child.ts --shape stories15M --threads 2 --warmup 2 --steps 3 [--native auto|off]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { initBackend } from "../src/maskllm/backend.js";
import { magnitudeScores } from "../src/maskllm/prune/scores.js";
import { nmMaskFromScores } from "../src/maskllm/mask/select.js";
import { expectedWeightShapes, linearWeightNames } from "../src/maskllm/llama/model.js";
import { trainMasks } from "../src/maskllm/train/loop.js";
import { hostTrainingBytes } from "../src/maskllm/host/memory.js";
import { InlineExecutor, type Executor } from "../src/maskllm/host/ops.js";
import { linearKernels } from "../src/maskllm/host/linear-kernels.js";
import { OpPool } from "../src/parallel/op-pool.js";
import { useNativeKernels, type NativeKernelsMode } from "../src/native/kernels.js";
import { BATCH, SEQ, TOKENS_PER_STEP, gemmReferenceGflops, paramCounts, randomWeights, randomWindows, scaleConfig, shapeByName } from "./scale-model.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const shape = shapeByName(arg("shape") ?? "stories260K");
const threads = Number(arg("threads") ?? 1);
const warmup = Number(arg("warmup") ?? 2);
const steps = Number(arg("steps") ?? 3);
const native = (arg("native") ?? "auto") as NativeKernelsMode;
if (native !== "auto" && native !== "off") throw new Error(`--native takes auto or off, got ${native}`);
const MICRO_BATCHES = 2;
const label = `${shape.name} ${threads}t`;
const note = (s: string) => process.stderr.write(`  [${label}] ${s}\n`);
const rssMiB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
let phase = "start";

const out: Record<string, unknown> = { shape: shape.name, threads, warmup, steps, microBatches: MICRO_BATCHES };
let pool: OpPool | undefined;
try {
  phase = "backend";
  out.backend = await initBackend("wasm");
  const config = scaleConfig(shape);
  phase = "training threads";
  // the linear products: the native addon (auto, where it loads) or wasm; the pool's threads follow
  out.kernels = useNativeKernels(native).kernels;
  if (threads > 1) pool = await OpPool.start(threads);
  const exec: Executor = pool ?? new InlineExecutor();
  const counts = paramCounts(config);
  const estimate = hostTrainingBytes({ config, params: counts.masked + counts.other, maskedParams: counts.masked, m: 4, candidates: 6, microBatchTokens: TOKENS_PER_STEP / MICRO_BATCHES, threads, tfWeights: false, inPlaceKernels: linearKernels()?.headLoss !== undefined, seqLen: SEQ });
  out.estimateMiB = estimate.total / 1024 ** 2;
  out.estimatePartsMiB = Object.fromEntries(Object.entries(estimate.parts).map(([k, v]) => [k, v / 1024 ** 2]));
  phase = "random weights";
  const t = performance.now();
  const host = randomWeights(config, 0, (n) => exec.f32(n));
  // magnitude 2:4 prior from the host arrays (cheap; SparseGPT is out of reach at these sizes)
  const prior = new Map<string, Uint8Array>();
  const shapes = expectedWeightShapes(config);
  for (const name of linearWeightNames(config)) {
    const [rows, cols] = shapes.get(name)!;
    prior.set(name, nmMaskFromScores(magnitudeScores(host.get(name)!), rows, cols, { n: 2, m: 4 }));
  }
  out.buildSeconds = (performance.now() - t) / 1000;
  note(`model built (${(out.buildSeconds as number).toFixed(1)} s random weights + prior), RSS ${rssMiB().toFixed(0)} MiB`);
  const windows = randomWindows((warmup + steps) * BATCH, SEQ, config.vocabSize, 1);
  const stamps: number[] = [];
  phase = "training";
  const t0 = performance.now();
  const r = await trainMasks({
    model: { config, weights: new Map() }, hostWeights: host, windows, prior, executor: pool,
    options: { steps: warmup + steps, batchSize: BATCH, microBatches: MICRO_BATCHES, seed: 0, progressEvery: 1 },
    onProgress: (p) => {
      stamps[p.step] = performance.now();
      note(`step ${p.step}/${p.steps} ${((stamps[p.step] - (stamps[p.step - 1] ?? t0)) / 1000).toFixed(2)} s, lm ${p.lmLoss.toFixed(3)}, RSS ${rssMiB().toFixed(0)} MiB`);
    },
  });
  const seconds = (stamps[warmup + steps] - stamps[warmup]) / 1000;
  out.measuredSeconds = seconds;
  const stepSeconds = Array.from({ length: steps }, (_, i) => (stamps[warmup + i + 1] - stamps[warmup + i]) / 1000);
  out.stepSeconds = stepSeconds;
  // the median step, as the PyTorch yardstick reports: this machine's speed moves from minute to minute
  const sorted = [...stepSeconds].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  out.tokensPerSec = TOKENS_PER_STEP / median;
  const per = (x: number) => x / Math.max(1, r.timing.steps);
  out.stepMsAllSteps = { noise: per(r.timing.noiseMs), masks: per(r.timing.maskMs), forward: per(r.timing.forwardMs), backward: per(r.timing.backwardMs), replicaWait: per(r.timing.replicaWaitMs), optimizer: per(r.timing.optimizerMs) };
  out.lastLmLoss = r.last?.lmLoss;
} catch (err) {
  out.error = `${phase}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}
out.peakRssMiB = rssMiB();
try {
  await pool?.close();
} catch {
  // the measurement is already taken
}
// our GEMM's one-thread rate right after the steps (after the peak RSS is read): this machine's speed moves from
// minute to minute, so the per-core figure compares the step with the GEMM measured next to it
if (!out.error) out.gemmAfterGflops = gemmReferenceGflops(shape, native).gflops;
process.stdout.write(`${JSON.stringify({ scaleChild: out })}\n`);
process.exit(out.error ? 1 : 0);
