// One bench:scale measurement in its own process (bench/scale.ts spawns it), so that its peak RSS is this process's
// alone and a crash (e.g. the wasm heap's 4 GiB limit) fails one shape, not the bench. Builds the seeded random
// model, a magnitude 2:4 prior, and runs the real trainMasks for warm-up + measured steps on --threads threads;
// prints one JSON line {"scaleChild": ...} on stdout (with "error" on failure), progress on stderr.
//   node --import tsx bench/scale-child.ts --shape stories15M --threads 2 --warmup 2 --steps 3
import { initBackend } from "../src/maskllm/backend.js";
import { magnitudeScores } from "../src/maskllm/prune/scores.js";
import { nmMaskFromScores } from "../src/maskllm/mask/select.js";
import { expectedWeightShapes, linearWeightNames, type LlamaModel } from "../src/maskllm/llama/model.js";
import { trainMasks } from "../src/maskllm/train/loop.js";
import { ThreadReplicas } from "../src/parallel/thread-replicas.js";
import { BATCH, SEQ, TOKENS_PER_STEP, buildModel, randomWeights, randomWindows, scaleConfig, shapeByName } from "./scale-model.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const shape = shapeByName(arg("shape") ?? "stories260K");
const threads = Number(arg("threads") ?? 1);
const warmup = Number(arg("warmup") ?? 2);
const steps = Number(arg("steps") ?? 3);
const MICRO_BATCHES = 2;
const label = `${shape.name} ${threads}t`;
const note = (s: string) => process.stderr.write(`  [${label}] ${s}\n`);
const rssMiB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
let phase = "start";

const out: Record<string, unknown> = { shape: shape.name, threads, warmup, steps, microBatches: MICRO_BATCHES };
let replicas: ThreadReplicas | undefined;
let model: LlamaModel | undefined;
try {
  phase = "backend";
  out.backend = await initBackend("wasm");
  const config = scaleConfig(shape);
  phase = "random weights";
  let t = performance.now();
  const host = randomWeights(config, 0);
  // magnitude 2:4 prior from the host arrays (cheap; SparseGPT is out of reach at these sizes)
  const prior = new Map<string, Uint8Array>();
  const shapes = expectedWeightShapes(config);
  for (const name of linearWeightNames(config)) {
    const [rows, cols] = shapes.get(name)!;
    prior.set(name, nmMaskFromScores(magnitudeScores(host.get(name)!), rows, cols, { n: 2, m: 4 }));
  }
  out.buildSeconds = (performance.now() - t) / 1000;
  phase = "model to engine";
  t = performance.now();
  model = buildModel(config, host);
  host.clear(); // the engine holds the weights now
  out.toEngineSeconds = (performance.now() - t) / 1000;
  note(`model built (${out.buildSeconds as number} s random weights + prior, ${out.toEngineSeconds as number} s to engine), RSS ${rssMiB().toFixed(0)} MiB`);
  if (threads > 1) {
    phase = "replica threads";
    replicas = await ThreadReplicas.start(model, threads - 1, "wasm");
  }
  const windows = randomWindows((warmup + steps) * BATCH, SEQ, config.vocabSize, 1);
  const stamps: number[] = [];
  phase = "training";
  const t0 = performance.now();
  const r = await trainMasks({
    model, windows, prior, replicas,
    options: { steps: warmup + steps, batchSize: BATCH, microBatches: MICRO_BATCHES, seed: 0, progressEvery: 1 },
    onProgress: (p) => {
      stamps[p.step] = performance.now();
      note(`step ${p.step}/${p.steps} ${((stamps[p.step] - (stamps[p.step - 1] ?? t0)) / 1000).toFixed(2)} s, lm ${p.lmLoss.toFixed(3)}, RSS ${rssMiB().toFixed(0)} MiB`);
    },
  });
  const seconds = (stamps[warmup + steps] - stamps[warmup]) / 1000;
  out.measuredSeconds = seconds;
  out.tokensPerSec = (steps * TOKENS_PER_STEP) / seconds;
  out.stepSeconds = Array.from({ length: steps }, (_, i) => (stamps[warmup + i + 1] - stamps[warmup + i]) / 1000);
  const per = (x: number) => x / Math.max(1, r.timing.steps);
  out.stepMsAllSteps = { noise: per(r.timing.noiseMs), masks: per(r.timing.maskMs), forward: per(r.timing.forwardMs), backward: per(r.timing.backwardMs), replicaWait: per(r.timing.replicaWaitMs), optimizer: per(r.timing.optimizerMs) };
  out.lastLmLoss = r.last?.lmLoss;
} catch (err) {
  out.error = `${phase}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}
out.peakRssMiB = rssMiB();
try {
  await replicas?.close();
} catch {
  // the measurement is already taken
}
process.stdout.write(`${JSON.stringify({ scaleChild: out })}\n`);
process.exit(out.error ? 1 : 0);
