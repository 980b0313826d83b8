// A MaskLLM run's options: what each means, the paper's defaults, the checks a run makes on them, and which of them
// fix the trajectory (a resumed run must share those with its snapshot).
import type { NMPattern } from "../mask/patterns.js";
import { TrainingInputError } from "./errors.js";
import type { Range } from "./schedules.js";
import { SnapshotError } from "./snapshot.js";

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

/** The defaults overridden by `partial`, checked (a TrainingInputError names the first bad option). */
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

/** A SnapshotError unless every trajectory option of `opts` equals the snapshot's. */
export function assertSameTrajectory(opts: MaskTrainingOptions, snapshotOptions: Record<string, unknown>): void {
  for (const k of TRAJECTORY_KEYS)
    if (JSON.stringify(opts[k]) !== JSON.stringify(snapshotOptions[k]))
      throw new SnapshotError(`cannot resume: option ${k} is ${JSON.stringify(opts[k])}, the snapshot was made with ${JSON.stringify(snapshotOptions[k])}`);
}
