// The MaskLLM training loop (no I/O): learns per-group candidate logits for every masked linear of a frozen model.
// A step (stepper.ts): draw the soft masks, take each micro-batch's gradient with respect to them, add the parts in
// order, go back to the logits in closed form, clip, AdamW. The loop around it checks the inputs, lays the logits
// out (logits-layout.ts), feeds each step its batch (data-order.ts), reports progress and takes snapshots. All
// randomness comes from (seed, step, stream) so snapshots need no RNG state and a resumed run ends bit-identical to
// an uninterrupted one (same path, any number of threads).
import { expectedWeightShapes, linearWeightNames, weight, type LlamaModel } from "../llama/model.js";
import { formatPattern, parsePattern, type NMPattern } from "../mask/patterns.js";
import { hostTrainingSupported } from "../host/engine.js";
import { InlineExecutor, type Executor } from "../host/ops.js";
import { DataOrder, windowLength } from "./data-order.js";
import { TrainingAbortedError, TrainingInputError } from "./errors.js";
import { argmaxCandidates, argmaxChanges } from "./argmax.js";
import { MaskShapeError, type LogitsMap, type MaskTarget } from "./logits.js";
import { LogitsLayout } from "./logits-layout.js";
import { splitBatch, type GradientReplicas } from "./micro-batch.js";
import { assertSameTrajectory, resolveTrainingOptions, type MaskTrainingOptions } from "./options.js";
import { RNG_DESCRIPTION } from "./rng.js";
import { scheduleAt } from "./schedules.js";
import { SnapshotError, decodeSnapshot, encodeSnapshot } from "./snapshot.js";
import { createStepper, type Stepper, type StepTiming } from "./stepper.js";

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

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The weights to mask with their [out, in] shapes: from the model's tensors, or from its config where the host path brings its own weights. */
function maskTargets(model: LlamaModel, names: string[], fromConfig: boolean): MaskTarget[] {
  const shapes = fromConfig ? expectedWeightShapes(model.config) : undefined;
  return names.map((name) => {
    const s = shapes ? shapes.get(name) ?? [] : weight(model, name).shape;
    if (s.length !== 2) throw new MaskShapeError(`${name} is not a matrix`);
    return { name, shape: [s[0], s[1]] };
  });
}

/** Trains mask logits; returns them as plain arrays (every tensor it made is freed, also on error or abort). */
export async function trainMasks(input: TrainMasksInput): Promise<TrainMasksResult> {
  const { model, windows, signal } = input;
  let snap = input.resume ? decodeSnapshot(input.resume) : undefined;
  const opts = resolveTrainingOptions(snap ? { ...(snap.options as Partial<MaskTrainingOptions>), ...input.options } : input.options);
  if (snap) {
    assertSameTrajectory(opts, snap.options);
    if (snap.step > opts.steps) throw new SnapshotError(`snapshot step ${snap.step} is past the run's ${opts.steps} steps`);
  }
  const p = opts.pattern;
  const seqLen = windowLength(windows, model.config.vocabSize);

  const targets = maskTargets(model, input.targets ?? linearWeightNames(model.config), input.hostWeights !== undefined);
  const layout = new LogitsLayout(targets, p);
  const { c, totalGroups } = layout;
  if (snap) {
    if (formatPattern(parsePattern(snap.pattern)) !== formatPattern(p)) throw new SnapshotError(`snapshot pattern ${snap.pattern} != ${formatPattern(p)}`);
    if (JSON.stringify(snap.targets) !== JSON.stringify(targets)) throw new SnapshotError("snapshot was made for other weights or shapes than this model's");
  }

  const startStep = snap?.step ?? 0;
  const host = input.engine !== "tf" && hostTrainingSupported(model.config);
  // the host path keeps its state in the executor's (shared) arrays: made there from the start, not copied
  const exec = host ? input.executor ?? new InlineExecutor() : undefined;
  const state = layout.initialState((n) => (exec ? exec.f32(n) : new Float32Array(n)), opts, snap, input.prior);
  snap = undefined; // let the snapshot's arrays go
  if (c > 65535) throw new TrainingInputError(`${c} candidates per group are more than the loop tracks`);
  // each report's mask change: on the host path a pass split over the executor's threads (the state is shared)
  const argmax = exec ? u16Of(exec.i32(Math.ceil(totalGroups / 2)), totalGroups) : new Uint16Array(totalGroups);
  argmax.set(argmaxCandidates(state.logits, c));
  const changes = exec?.i32(1);
  const maskChanges = (logits: Float32Array): number => {
    if (!exec || !changes) return argmaxChanges(logits, c, argmax);
    changes[0] = 0;
    exec.run({ kind: "argmaxChanges", logits, c, prev: argmax, changes });
    return changes[0];
  };
  let stepper: Stepper | undefined;
  try {
    stepper = await createStepper({ model, layout, pattern: p, opts, state, seqLen, exec, hostWeights: input.hostWeights, replicas: input.replicas });
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
        logits: layout.unflatten(now.logits),
        m: layout.unflatten(now.m),
        v: layout.unflatten(now.v),
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
        const changed = maskChanges(run.state().logits);
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

    const logits = layout.unflatten(run.state().logits);
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

/** 16-bit view of an executor's array (its buffer stays the shared one the executor's threads know). */
function u16Of(a: Int32Array, n: number): Uint16Array {
  return new Uint16Array(a.buffer, a.byteOffset, n);
}
