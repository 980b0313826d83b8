// One training step's gradient, in two halves. (1) The soft masks M̃ = softmax((κπ + g)/τ)·S of the step are drawn
// once. (2) The batch is cut into a fixed number of parts (an option, so it belongs to the run, not to the machine)
// and each part's gradient of its share of the LM loss with respect to M̃ is computed alone; the parts are added in
// order. (3) That sum, plus the regulariser's term, is taken back through the Gumbel-softmax to the logits in closed
// form. Whether the parts run one after another here or side by side on replicas (GradientReplicas: worker threads
// that need only the model and M̃), the sum is the same float32 computation, so a run's mask does not depend on how
// many threads trained it, and a snapshot resumes anywhere.
import * as tf from "@tensorflow/tfjs";
import { forward, type LlamaModel } from "../llama/model.js";
import { gumbelProbs, hardCandidates } from "./gumbel.js";
import { nextTokenLoss } from "./loss.js";
import type { MaskTarget } from "./logits.js";

/** What a step needs besides the logits: the frozen model and the masked weights' layout. */
export interface MaskContext {
  model: LlamaModel;
  targets: MaskTarget[];
  /** groups per target, in target order (rows of the flat [Σgroups, ·] layout) */
  groups: number[];
  /** candidate matrix S [C, M] */
  candidates: tf.Tensor2D;
  /** W² of every target as [Σgroups, M], for the regulariser */
  weightSquared: tf.Tensor2D;
  hard: boolean;
}

/** One part of a step's batch. */
export interface MicroBatch {
  /** token ids, `windows` windows of the step's sequence length, row-major */
  ids: Int32Array;
  windows: number;
  /** share of the batch's predicted tokens (the part's mean loss is scaled by it) */
  weight: number;
}

export interface StepSchedule {
  kappa: number;
  tau: number;
  /** λ_t (already decayed) */
  lambda: number;
}

/** Time spent in the forward pass (model and loss) and the backward pass, accumulated. */
export interface GradientTiming {
  forwardMs: number;
  backwardMs: number;
}

/** Cuts a step's windows into `parts` near-equal micro-batches (fewer when there are fewer windows). */
export function splitBatch(ids: Int32Array, windows: number, seqLen: number, parts: number): MicroBatch[] {
  const n = Math.max(1, Math.min(parts, windows));
  const out: MicroBatch[] = [];
  let start = 0;
  for (let k = 0; k < n; k++) {
    const count = Math.floor(windows / n) + (k < windows % n ? 1 : 0);
    out.push({ ids: ids.subarray(start * seqLen, (start + count) * seqLen), windows: count, weight: count / windows });
    start += count;
  }
  return out;
}

/** The step's sample: candidate probabilities ỹ [Σgroups, C] (soft, even in hard mode) and masks M̃ [Σgroups, M]. */
export function sampleMasks(ctx: MaskContext, logits: tf.Tensor2D, noiseOverTau: tf.Tensor2D, sch: StepSchedule): { probs: tf.Tensor2D; masks: tf.Tensor2D } {
  return tf.tidy(() => {
    const probs = gumbelProbs(logits, noiseOverTau, sch.kappa, sch.tau);
    // hard (straight-through): the forward uses the argmax candidate, the backward treats it as ỹ
    const chosen = ctx.hard ? hardCandidates(probs) : probs;
    return { probs, masks: tf.matMul(chosen, ctx.candidates) };
  });
}

/**
 * ∂(weight·lm)/∂M̃ for one micro-batch, [Σgroups, M], and weight·lm. M̃ is an input here, not a function of the
 * logits: replicas need only it and the model. Every tensor returned is the caller's to dispose.
 */
export function microBatchMaskGradient(ctx: Pick<MaskContext, "model" | "targets" | "groups">, masks: tf.Tensor2D, mb: MicroBatch, seqLen: number, timing?: GradientTiming): { grad: tf.Tensor2D; lm: tf.Scalar } {
  let lm: tf.Scalar | undefined;
  const grad = tf.tidy(() => {
    const idsT = tf.tensor2d(mb.ids, [mb.windows, seqLen], "int32");
    const t0 = performance.now();
    let fwd = 0;
    const g = tf.grad((all: tf.Tensor) => {
      const parts = tf.split(all, ctx.groups, 0);
      const byName = new Map(ctx.targets.map((t, i) => [t.name, tf.reshape(parts[i], t.shape) as tf.Tensor2D]));
      const share = tf.mul(nextTokenLoss(forward(ctx.model, idsT, { mask: (n) => byName.get(n) }), mb.ids), mb.weight) as tf.Scalar;
      lm = tf.keep(share);
      fwd = performance.now() - t0;
      return share;
    })(masks) as tf.Tensor2D;
    if (timing) {
      timing.forwardMs += fwd;
      timing.backwardMs += performance.now() - t0 - fwd;
    }
    return g;
  });
  return { grad, lm: lm! };
}

/**
 * The logits' gradient of LM(M̃) − λ_t·Σ‖W ⊙ M̃‖² given ∂LM/∂M̃, through M̃ = ỹ·S and ỹ = softmax(κ/τ·π + g/τ):
 * ∂M̃ += −2λ_t·W²⊙M̃ (W is a constant: stop-gradient), ∂ỹ = ∂M̃·Sᵀ, ∂π = κ/τ · ỹ⊙(∂ỹ − Σ_c ∂ỹ⊙ỹ). Also returns
 * Σ‖W ⊙ M̃‖² and the mean largest candidate probability, for progress reports.
 */
export function logitsGradient(ctx: MaskContext, probs: tf.Tensor2D, masks: tf.Tensor2D, lmGrad: tf.Tensor2D, sch: StepSchedule): { grad: tf.Tensor2D; reg: tf.Scalar; maxProb: tf.Scalar } {
  return tf.tidy(() => {
    const wm = tf.mul(ctx.weightSquared, masks);
    const reg = tf.sum(tf.mul(wm, masks)) as tf.Scalar;
    const dMasks = tf.sub(lmGrad, tf.mul(wm, 2 * sch.lambda));
    const dProbs = tf.matMul(dMasks, tf.transpose(ctx.candidates)); // [Σgroups, C]; untransposed: XNNPACK's fast path
    const dz = tf.mul(probs, tf.sub(dProbs, tf.sum(tf.mul(dProbs, probs), -1, true)));
    return { grad: tf.mul(dz, sch.kappa / sch.tau) as tf.Tensor2D, reg, maxProb: tf.mean(tf.max(probs, -1)) as tf.Scalar };
  });
}

/** Runs micro-batches elsewhere (worker threads): microBatchMaskGradient on the same backend, so the same numbers. */
export interface GradientReplicas {
  /** how many micro-batches it can run at once */
  readonly parallelism: number;
  /** called once per run, before the first compute */
  prepare(spec: { targets: MaskTarget[]; groupSize: number; seqLen: number }): Promise<void>;
  /** ∂(weight·lm)/∂M̃ (flat [Σgroups·M]) and weight·lm of each micro-batch, at the step's masks M̃ (flat) */
  compute(req: { masks: Float32Array; microBatches: MicroBatch[] }): Promise<{ grad: Float32Array; lm: number }[]>;
}
