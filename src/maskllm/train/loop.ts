// The MaskLLM training loop (no I/O): learns per-group candidate logits for every masked linear of a frozen model.
// A step: draw the soft masks, take each micro-batch's gradient with respect to them, add the parts in order, go
// back to the logits in closed form, clip, AdamW. Where the WebAssembly kernels run, a step is the host trainer's
// (host/step.ts: host arrays, products split over an Executor's threads); elsewhere TF.js's (tf-step.ts, with
// replicas). All randomness comes from (seed, step, stream) so snapshots need no RNG state and a resumed run ends
// bit-identical to an uninterrupted one (same path, any number of threads).
import { expectedWeightShapes, linearWeightNames, weight, type LlamaModel } from "../llama/model.js";
import { candidateMatrixValues, formatPattern, parsePattern, type NMPattern } from "../mask/patterns.js";
import { argmaxCandidates, argmaxChanges, candidateCount, groupCount, initTargetLogits, MaskShapeError, type LogitsMap, type MaskTarget } from "./logits.js";
import { splitBatch, type GradientReplicas, type GradientTiming, type MicroBatch } from "./micro-batch.js";
import { applyPrior } from "./prior.js";
import { RNG_DESCRIPTION, permutation, seedFor } from "./rng.js";
import { TfStepper } from "./tf-step.js";
import { HostEngine, hostTrainingSupported } from "../host/engine.js";
import { InlineExecutor, type Executor } from "../host/ops.js";
import { HostStepper, type HostLogitsState, type HostStepReport, type HostStepSchedule } from "../host/step.js";
import { scheduleAt, type Range } from "./schedules.js";
import { SnapshotError, decodeSnapshot, encodeSnapshot } from "./snapshot.js";

export interface MaskTrainingOptions {
  pattern: NMPattern;
  steps: number;
  /** windows per step */
  batchSize: number;
  /**
   * parts each step's batch is cut into; their gradients are summed in order (micro-batch.ts). Part of the run's
   * trajectory, so that threads (GradientReplicas) can share a step without changing its result.
   */
  microBatches: number;
  seed: number;
  lr: number;
  lrMin: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
  tau: Range;
  kappa: Range;
  /** regulariser weight λ, decayed linearly to 0 over the run */
  lambda: number;
  initStd: number;
  priorStrength: number;
  /** straight-through (forward one-hot) instead of MaskLLM's default soft Gumbel-softmax */
  hard: boolean;
  /** onProgress every this many steps (and at the last step) */
  progressEvery: number;
  /** onSnapshot every this many steps; 0 = never */
  snapshotEvery: number;
}

/** maskllm.md §1-§4: τ 4→0.05, κ 1e2→5e2, λ 1e-5, α 3, AdamW 5e-4→5e-5 cosine, β (0.9, 0.95), eps 1e-5 (LLaMA-2 scripts), wd 0.1, clip 1.0. */
export const DEFAULT_TRAINING_OPTIONS: MaskTrainingOptions = {
  pattern: { n: 2, m: 4 },
  steps: 1000,
  batchSize: 8,
  microBatches: 2,
  seed: 0,
  lr: 5e-4,
  lrMin: 5e-5,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-5,
  weightDecay: 0.1,
  gradClip: 1.0,
  tau: { start: 4, end: 0.05 },
  kappa: { start: 100, end: 500 },
  lambda: 1e-5,
  initStd: 0.01,
  priorStrength: 3,
  hard: false,
  progressEvery: 10,
  snapshotEvery: 0,
};

// Options that change the trajectory: a resume must match them exactly.
const TRAJECTORY_KEYS = ["pattern", "steps", "batchSize", "microBatches", "seed", "lr", "lrMin", "beta1", "beta2", "eps", "weightDecay", "gradClip", "tau", "kappa", "lambda", "hard"] as const;

export class TrainingAbortedError extends Error {
  constructor(readonly step: number) {
    super(`mask training aborted after ${step} completed steps`);
    this.name = "TrainingAbortedError";
  }
}

export class TrainingInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingInputError";
  }
}

export interface MaskTrainingProgress {
  step: number;
  steps: number;
  loss: number;
  lmLoss: number;
  /** Σ‖W ⊙ M̃‖² (before λ_t) */
  regLoss: number;
  tau: number;
  kappa: number;
  lr: number;
  gradNorm: number;
  /** fraction of groups whose argmax candidate changed since the previous report */
  maskChange: number;
  /** mean over groups of the largest candidate probability of the last sample */
  maxProb: number;
  tokensPerSec: number;
  etaSeconds: number;
}

export interface StepTiming extends GradientTiming {
  /** Gumbel noise drawn in JS (the TF.js path; the host path draws it inside its sampling op, counted in maskMs) */
  noiseMs: number;
  /** the step's soft masks (Gumbel-softmax) */
  maskMs: number;
  /** waiting for the replicas' micro-batches after this thread's were done */
  replicaWaitMs: number;
  /** summing the parts, the logits' gradient, clipping, AdamW */
  optimizerMs: number;
  steps: number;
}

export interface TrainMasksInput {
  model: LlamaModel;
  /** calibration windows, all the same length (tokens) */
  windows: Int32Array[];
  options?: Partial<MaskTrainingOptions>;
  /** weights to mask; default every q/k/v/o/gate/up/down */
  targets?: string[];
  /** prior mask M0 per weight name (0/1 over [out, in], row-major); weights without one start from plain noise */
  prior?: Map<string, ArrayLike<number>>;
  /** snapshot bytes to resume from (its logits and moments replace init and prior) */
  resume?: Uint8Array;
  signal?: AbortSignal;
  onProgress?: (p: MaskTrainingProgress) => void;
  onSnapshot?: (bytes: Uint8Array, step: number) => void | Promise<void>;
  /**
   * Whether an abort with this reason first hands out a snapshot of the steps done since the last one (a worker
   * shutting down keeps its progress; a cancel does not need it). Default: never.
   */
  snapshotOnAbort?: (reason: unknown) => boolean;
  /** the TF.js path: runs some of each step's micro-batches on other threads; the result is bit-identical without it */
  replicas?: GradientReplicas;
  /** the host path: runs its ops' parts on several threads (src/parallel/op-pool.ts); bit-identical without it */
  executor?: Executor;
  /** the host path's weights, HF names, row-major (default: read from model.weights, which may then be empty) */
  hostWeights?: Map<string, Float32Array>;
  /** "tf" keeps the TF.js path where the host path would run (the reference in tests); default: host where it can */
  engine?: "host" | "tf";
}

export interface TrainMasksResult {
  pattern: NMPattern;
  targets: MaskTarget[];
  logits: LogitsMap;
  options: MaskTrainingOptions;
  /** step the run started from (0, or the resumed snapshot's) */
  startStep: number;
  last?: MaskTrainingProgress;
  timing: StepTiming;
  tokensPerSec: number;
}

export function resolveTrainingOptions(partial: Partial<MaskTrainingOptions> = {}): MaskTrainingOptions {
  const o: MaskTrainingOptions = { ...DEFAULT_TRAINING_OPTIONS, ...partial };
  const posInt = (k: keyof MaskTrainingOptions, min: number) => {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < min) throw new TrainingInputError(`option ${k} must be an integer >= ${min}, got ${v}`);
  };
  posInt("steps", 1);
  posInt("batchSize", 1);
  posInt("microBatches", 1);
  posInt("progressEvery", 1);
  posInt("snapshotEvery", 0);
  if (!Number.isInteger(o.seed)) throw new TrainingInputError(`option seed must be an integer, got ${o.seed}`);
  for (const k of ["lr", "lrMin", "eps", "gradClip", "initStd"] as const)
    if (!(o[k] > 0) || !Number.isFinite(o[k])) throw new TrainingInputError(`option ${k} must be a positive number, got ${o[k]}`);
  for (const k of ["weightDecay", "lambda", "priorStrength"] as const)
    if (!(o[k] >= 0) || !Number.isFinite(o[k])) throw new TrainingInputError(`option ${k} must be >= 0, got ${o[k]}`);
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1)) throw new TrainingInputError("betas must lie in [0, 1)");
  if (!(o.tau.start > 0 && o.tau.end > 0)) throw new TrainingInputError("tau must stay positive");
  if (!(o.kappa.start > 0 && o.kappa.end > 0)) throw new TrainingInputError("kappa must stay positive");
  return o;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The windows of step `step`: a fresh seeded permutation per epoch, consumed in order. */
export class DataOrder {
  private epoch = -1;
  private perm: Int32Array = new Int32Array(0);
  constructor(private readonly windows: Int32Array[], private readonly seed: number, private readonly batchSize: number) {}

  batch(step: number): Int32Array {
    const seqLen = this.windows[0].length;
    const out = new Int32Array(this.batchSize * seqLen);
    const w = this.windows.length;
    for (let b = 0; b < this.batchSize; b++) {
      const i = step * this.batchSize + b;
      const e = Math.floor(i / w);
      if (e !== this.epoch) {
        this.epoch = e;
        this.perm = permutation(w, seedFor(this.seed, e, -2));
      }
      out.set(this.windows[this.perm[i % w]], b * seqLen);
    }
    return out;
  }
}

/** Trains mask logits; returns them as plain arrays (every tensor it made is freed, also on error or abort). */
export async function trainMasks(input: TrainMasksInput): Promise<TrainMasksResult> {
  const { model, windows, signal } = input;
  let snap = input.resume ? decodeSnapshot(input.resume) : undefined;
  const opts = resolveTrainingOptions(snap ? { ...(snap.options as Partial<MaskTrainingOptions>), ...input.options } : input.options);
  if (snap) {
    for (const k of TRAJECTORY_KEYS)
      if (!sameValue(opts[k], (snap.options as Record<string, unknown>)[k]))
        throw new SnapshotError(`cannot resume: option ${k} is ${JSON.stringify(opts[k])}, the snapshot was made with ${JSON.stringify((snap.options as Record<string, unknown>)[k])}`);
    if (snap.step > opts.steps) throw new SnapshotError(`snapshot step ${snap.step} is past the run's ${opts.steps} steps`);
  }
  const p = opts.pattern;
  if (windows.length === 0) throw new TrainingInputError("no calibration windows");
  const seqLen = windows[0].length;
  if (seqLen < 2 || windows.some((w) => w.length !== seqLen)) throw new TrainingInputError("calibration windows must all have the same length >= 2");
  const vocab = model.config.vocabSize;
  for (const w of windows) for (let i = 0; i < w.length; i++) if (w[i] < 0 || w[i] >= vocab) throw new TrainingInputError(`token id ${w[i]} is outside the vocabulary (${vocab})`);

  const names = input.targets ?? linearWeightNames(model.config);
  const shapes = input.hostWeights ? expectedWeightShapes(model.config) : undefined;
  const targets: MaskTarget[] = names.map((name) => {
    const s = shapes ? shapes.get(name) ?? [] : weight(model, name).shape;
    if (s.length !== 2) throw new MaskShapeError(`${name} is not a matrix`);
    return { name, shape: [s[0], s[1]] };
  });
  const c = candidateCount(p);
  const groups = targets.map((t) => groupCount(t, p));
  const totalGroups = groups.reduce((a, b) => a + b, 0);
  if (snap) {
    if (formatPattern(parsePattern(snap.pattern)) !== formatPattern(p)) throw new SnapshotError(`snapshot pattern ${snap.pattern} != ${formatPattern(p)}`);
    if (!sameValue(snap.targets, targets)) throw new SnapshotError("snapshot was made for other weights or shapes than this model's");
  }

  const offsets: number[] = [];
  groups.reduce((off, g) => (offsets.push(off), off + g), 0);
  // views, not copies: a snapshot encodes them at once, and the result keeps the final arrays themselves
  const unflatten = (flat: Float32Array) => new Map(targets.map((t, i) => [t.name, flat.subarray(offsets[i] * c, (offsets[i] + groups[i]) * c)]));
  const startStep = snap?.step ?? 0;
  const host = input.engine !== "tf" && hostTrainingSupported(model.config);
  // the host path keeps its state in the executor's (shared) arrays: made there from the start, not copied
  const exec = host ? input.executor ?? new InlineExecutor() : undefined;
  const alloc = (n: number) => (exec ? exec.f32(n) : new Float32Array(n));
  // All targets' logits live in ONE [Σgroups, C] array (rows in target order), and so do the moments: a step's
  // mask math runs over it in a few ops, each target's rows a slice. Filled target by target (one layer's
  // temporaries at a time): from the snapshot, or N(0, σ²) shifted by the prior.
  const state: HostLogitsState = { logits: alloc(totalGroups * c), m: alloc(totalGroups * c), v: alloc(totalGroups * c) };
  targets.forEach((t, i) => {
    const at = offsets[i] * c;
    if (snap) {
      state.logits.set(snap.logits.get(t.name)!, at);
      state.m.set(snap.m.get(t.name)!, at);
      state.v.set(snap.v.get(t.name)!, at);
      return;
    }
    const l = initTargetLogits(t, i, p, opts.seed, opts.initStd);
    const m0 = input.prior?.get(t.name);
    state.logits.set(m0 ? applyPrior(l, m0, p, opts.priorStrength, t.name) : l, at);
  });
  snap = undefined; // let the snapshot's arrays go
  if (c > 65535) throw new TrainingInputError(`${c} candidates per group are more than the loop tracks`);
  const argmax = Uint16Array.from(argmaxCandidates(state.logits, c));
  let stepper: { step(step: number, sch: HostStepSchedule, parts: MicroBatch[], wantReport: boolean, timing: StepTiming): Promise<HostStepReport | undefined>; state(): HostLogitsState; dispose(): void } | undefined;
  try {
    if (exec) {
      const maxWindows = Math.ceil(opts.batchSize / Math.min(opts.microBatches, opts.batchSize));
      // one tensor's values at a time into the executor's buffers (a copy the executor shares is used as it is)
      const hostWeights =
        input.hostWeights ??
        new Map(
          [...model.weights].map(([k, t]) => {
            const v = t.dataSync() as Float32Array;
            if (exec.shares(v)) return [k, v];
            const a = exec.f32(v.length);
            a.set(v);
            return [k, a];
          }),
        );
      const sValues = candidateMatrixValues(p);
      const engine = new HostEngine({ config: model.config, weights: hostWeights, targets, m: p.m, s: sValues, hard: opts.hard, seqLen, maxWindows }, exec);
      const h = new HostStepper(engine, exec, targets, groups, p.m, sValues, opts);
      stepper = {
        step: async (step, sch, parts, _want, timing) => h.step(state, step, sch, parts, timing),
        state: () => state,
        dispose: () => {},
      };
    } else {
      const tfs = new TfStepper(model, targets, groups, p, opts, state, seqLen, input.replicas);
      stepper = tfs;
      await tfs.prepare();
    }
    const run = stepper;
    const data = new DataOrder(windows, opts.seed, opts.batchSize);
    const timing: StepTiming = { noiseMs: 0, forwardMs: 0, backwardMs: 0, maskMs: 0, replicaWaitMs: 0, optimizerMs: 0, steps: 0 };
    let last: MaskTrainingProgress | undefined;
    const t0 = performance.now();
    const tokensPerStep = opts.batchSize * seqLen;

    let snapshotAt = startStep;
    const snapshot = async (done: number) => {
      const now = run.state();
      const bytes = encodeSnapshot({
        step: done,
        steps: opts.steps,
        seed: opts.seed,
        pattern: formatPattern(p),
        options: opts as unknown as Record<string, unknown>,
        rng: { ...RNG_DESCRIPTION },
        targets,
        logits: unflatten(now.logits),
        m: unflatten(now.m),
        v: unflatten(now.v),
      });
      snapshotAt = done;
      await input.onSnapshot!(bytes, done);
    };

    for (let step = startStep; step < opts.steps; step++) {
      if (signal?.aborted) {
        // the state here is exactly that after `step` completed steps, so a resume from it continues bit-identically
        if (input.onSnapshot && step > snapshotAt && input.snapshotOnAbort?.(signal.reason)) await snapshot(step);
        throw new TrainingAbortedError(step);
      }
      const sch = scheduleAt(opts, step, opts.steps);
      const ids = data.batch(step);
      const wantReport = (step + 1) % opts.progressEvery === 0 || step + 1 === opts.steps;
      const parts = splitBatch(ids, opts.batchSize, seqLen, opts.microBatches);
      const report = await run.step(step, sch, parts, wantReport, timing);
      timing.steps++;

      const done = step + 1;
      if (wantReport) {
        const { lmLoss, regLoss, maxProb, gradNorm } = report!;
        const loss = lmLoss - sch.lambda * regLoss;
        const changed = argmaxChanges(run.state().logits, c, argmax);
        const elapsed = (performance.now() - t0) / 1000;
        const rate = (timing.steps * tokensPerStep) / elapsed;
        last = {
          step: done,
          steps: opts.steps,
          loss,
          lmLoss,
          regLoss,
          tau: sch.tau,
          kappa: sch.kappa,
          lr: sch.lr,
          gradNorm,
          maskChange: changed / totalGroups,
          maxProb,
          tokensPerSec: rate,
          etaSeconds: ((opts.steps - done) * tokensPerStep) / rate,
        };
        input.onProgress?.(last);
      }
      if (opts.snapshotEvery > 0 && done % opts.snapshotEvery === 0 && input.onSnapshot) await snapshot(done);
      await yieldToEventLoop();
    }

    const logits = unflatten(run.state().logits);
    const elapsed = (performance.now() - t0) / 1000;
    return {
      pattern: p,
      targets,
      logits,
      options: opts,
      startStep,
      ...(last ? { last } : {}),
      timing,
      tokensPerSec: timing.steps > 0 ? (timing.steps * tokensPerStep) / elapsed : 0,
    };
  } finally {
    stepper?.dispose();
  }
}
