// One MaskLLM step on host arrays (the loop's path where the WebAssembly kernels run): the same sequence as the
// TF.js path (tf-step.ts) with the same noise and the same kernels for sampling, so its ỹ are bit-identical to that
// path's; the gradient comes from the HostEngine and the update works in candidate space (ỹ, ∂ỹ) target by target:
//   ỹ = softmax(κ/τ·π + g/τ), per target;
//   ∂ỹ = Σ parts ∂LM/∂ỹ (engine) + (−2λ_t·W²⊙M̃)·Sᵀ, ∂π = κ/τ·ỹ⊙(∂ỹ − Σ ∂ỹ⊙ỹ);
//   global-norm clipping over every target, then AdamW.
// The logits, AdamW's moments, ỹ and ∂ỹ are the only arrays of the masked weights' size (6 floats per group each).
import type { MicroBatch } from "../train/micro-batch.js";
import type { MaskTarget } from "../train/logits.js";
import { seedFor } from "../train/rng.js";
import type { HostEngine } from "./engine.js";
import type { Executor } from "./ops.js";

export interface HostStepOptions {
  seed: number;
  hard: boolean;
  gradClip: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface HostStepSchedule {
  kappa: number;
  tau: number;
  lambda: number;
  lr: number;
}

export interface HostStepReport {
  lmLoss: number;
  regLoss: number;
  maxProb: number;
  gradNorm: number;
}

export interface HostStepTiming {
  noiseMs: number;
  maskMs: number;
  forwardMs: number;
  backwardMs: number;
  optimizerMs: number;
}

/** Logits and AdamW moments, [Σgroups, C] each, targets in order. */
export interface HostLogitsState {
  logits: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export class HostStepper {
  private readonly probs: Float32Array;
  private readonly dProbs: Float32Array;
  private readonly stats: Float64Array;
  private readonly offsets: number[] = [];
  private readonly c: number;
  private readonly weights: Float32Array[];

  constructor(
    private readonly engine: HostEngine,
    private readonly exec: Executor,
    targets: MaskTarget[],
    private readonly groups: number[],
    private readonly m: number,
    private readonly s: Float32Array,
    private readonly opts: HostStepOptions,
  ) {
    this.c = s.length / m;
    const total = groups.reduce((a, b) => a + b, 0);
    groups.reduce((off, g) => (this.offsets.push(off), off + g), 0);
    this.probs = exec.f32(total * this.c);
    this.dProbs = exec.f32(total * this.c);
    this.stats = exec.f64(3 * targets.length);
    this.weights = targets.map((t) => engine.weight(t.name));
  }

  /** One step (t: 0-based step index) over the batch's micro-batches; updates state (the executor's arrays) in place. */
  step(state: HostLogitsState, t: number, sch: HostStepSchedule, parts: MicroBatch[], timing: HostStepTiming): HostStepReport {
    const { c, m, s, exec, offsets, groups } = this;
    const o = this.opts;
    const scale = sch.kappa / sch.tau;
    // ỹ per target, from the same seeded noise as the TF.js path
    let tic = performance.now();
    const seeds = groups.map((_, i) => seedFor(o.seed, t, i));
    // (and ∂ỹ zeroed, target by target on the threads: one pass over 0.5 GB at 110M was 50 ms on one)
    exec.run({ kind: "sample", logits: state.logits, probs: this.probs, dProbs: this.dProbs, offsets, groups, seeds, invTau: 1 / sch.tau, scale, hard: o.hard, s, c, m });
    timing.maskMs += performance.now() - tic;
    // Σ parts ∂LM/∂ỹ, in order
    let lm = 0;
    for (const mb of parts) lm += this.engine.microBatch(mb.ids, mb.windows, mb.weight, this.probs, this.dProbs, timing);

    // the logits' gradient with the regulariser (per target, stats summed in target order), clipping, AdamW
    tic = performance.now();
    exec.run({ kind: "logitsGrad", probs: this.probs, dProbs: this.dProbs, w: this.weights, stats: this.stats, offsets, groups, scale, twoLambda: 2 * sch.lambda, hard: o.hard, s, c, m });
    let reg = 0;
    let maxProbSum = 0;
    let sq = 0;
    for (let i = 0; i < groups.length; i++) {
      reg += this.stats[3 * i];
      maxProbSum += this.stats[3 * i + 1];
      sq += this.stats[3 * i + 2];
    }
    const norm = Math.sqrt(sq);
    const coef = Math.min(1, o.gradClip / (norm + 1e-6));
    exec.run({
      kind: "adamw",
      logits: state.logits,
      mom: state.m,
      vel: state.v,
      grad: this.dProbs,
      coef,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      decay: 1 - sch.lr * o.weightDecay,
      stepSize: sch.lr / (1 - o.beta1 ** (t + 1)),
      invSqrtBc2: 1 / Math.sqrt(1 - o.beta2 ** (t + 1)),
    });
    timing.optimizerMs += performance.now() - tic;
    const total = groups.reduce((a, b) => a + b, 0);
    return { lmLoss: lm, regLoss: reg, maxProb: maxProbSum / total, gradNorm: norm };
  }
}
