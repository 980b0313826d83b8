// One MaskLLM step on host arrays (the loop's path where the WebAssembly kernels run): the same sequence as the
// TF.js path (loop.ts) with the same noise and the same kernels for sampling, so its ỹ are bit-identical to that
// path's; the gradient comes from the HostEngine and the update works in candidate space (ỹ, ∂ỹ) target by target:
//   ỹ = softmax(κ/τ·π + g/τ), per target;
//   ∂ỹ = Σ parts ∂LM/∂ỹ (engine) + (−2λ_t·W²⊙M̃)·Sᵀ, ∂π = κ/τ·ỹ⊙(∂ỹ − Σ ∂ỹ⊙ỹ);
//   global-norm clipping over every target, then AdamW.
// The logits, AdamW's moments, ỹ and ∂ỹ are the only arrays of the masked weights' size (6 floats per group each).
import { gumbelNoiseInto } from "../kernels/gumbel-module.js";
import { adamwUpdate, candidateLogitsGrad, sampleMasks, softMask } from "../kernels/mask-step-module.js";
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
  private readonly noise: Float32Array;
  private readonly masks: Float32Array;
  private readonly offsets: number[] = [];
  private readonly c: number;

  constructor(
    private readonly engine: HostEngine,
    exec: Executor,
    private readonly targets: MaskTarget[],
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
    const largest = Math.max(0, ...groups);
    this.noise = new Float32Array(largest * this.c);
    this.masks = new Float32Array(largest * m);
  }

  private layout(i: number) {
    return { groups: this.groups[i], candidates: this.c, m: this.m, s: this.s };
  }

  private rows(a: Float32Array, i: number, width: number): Float32Array {
    return a.subarray(this.offsets[i] * width, (this.offsets[i] + this.groups[i]) * width);
  }

  /** One step (t: 0-based step index) over the batch's micro-batches; updates state in place. */
  step(state: HostLogitsState, t: number, sch: HostStepSchedule, parts: MicroBatch[], timing: HostStepTiming): HostStepReport {
    const { c, m } = this;
    const scale = sch.kappa / sch.tau;
    // ỹ per target, from the same seeded noise as the TF.js path
    for (let i = 0; i < this.targets.length; i++) {
      let tic = performance.now();
      const noise = this.noise.subarray(0, this.groups[i] * c);
      gumbelNoiseInto(noise, seedFor(this.opts.seed, t, i), 1 / sch.tau);
      timing.noiseMs += performance.now() - tic;
      tic = performance.now();
      sampleMasks(this.layout(i), this.rows(state.logits, i, c), noise, scale, this.opts.hard, this.rows(this.probs, i, c), this.masks.subarray(0, this.groups[i] * m));
      timing.maskMs += performance.now() - tic;
    }
    // Σ parts ∂LM/∂ỹ, in order
    let tic = performance.now();
    this.dProbs.fill(0);
    let lm = 0;
    for (const mb of parts) lm += this.engine.microBatch(mb.ids, mb.windows, mb.weight, this.probs, this.dProbs);
    timing.forwardMs += performance.now() - tic; // forward and backward run interleaved per part: reported together

    // the logits' gradient with the regulariser, then clipping and AdamW
    tic = performance.now();
    let reg = 0;
    let maxProbSum = 0;
    let sq = 0;
    for (let i = 0; i < this.targets.length; i++) {
      const l = this.layout(i);
      const masks = this.masks.subarray(0, this.groups[i] * m);
      const probs = this.rows(this.probs, i, c);
      softMask(l, probs, this.opts.hard, masks);
      const r = candidateLogitsGrad(l, probs, this.rows(this.dProbs, i, c), this.engine.weight(this.targets[i].name), masks, scale, 2 * sch.lambda);
      reg += r.reg;
      maxProbSum += r.maxProbSum;
      sq += r.sq;
    }
    const norm = Math.sqrt(sq);
    const coef = Math.min(1, this.opts.gradClip / (norm + 1e-6));
    const o = this.opts;
    const u = { beta1: o.beta1, beta2: o.beta2, eps: o.eps, decay: 1 - sch.lr * o.weightDecay, stepSize: sch.lr / (1 - o.beta1 ** (t + 1)), invSqrtBc2: 1 / Math.sqrt(1 - o.beta2 ** (t + 1)) };
    for (let i = 0; i < this.targets.length; i++)
      adamwUpdate({ logits: this.rows(state.logits, i, c), m: this.rows(state.m, i, c), v: this.rows(state.v, i, c) }, this.rows(this.dProbs, i, c), coef, u);
    timing.optimizerMs += performance.now() - tic;
    const groups = this.groups.reduce((a, b) => a + b, 0);
    return { lmLoss: lm, regLoss: reg, maxProb: maxProbSum / groups, gradNorm: norm };
  }
}
