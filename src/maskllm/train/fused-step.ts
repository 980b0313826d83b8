// The step's mask math as two fused ops where fusedKernelsSupported() (kernels/assembly/mask-step.ts): drawing ỹ and
// M̃, and the logits' update (gradient through the Gumbel-softmax with the regulariser, clipping, AdamW). They do on
// the loop's thread what sampleMasks, logitsGradient, clipByGlobalNorm and AdamW.apply do as ~20 TF.js ops, in a
// few passes; the training threads wait for this part of every step.
import * as tf from "@tensorflow/tfjs";
import { fusedKernel } from "../kernels/fused-kernel.js";
import { sampleMasks as sampleKernel, updateLogits } from "../kernels/mask-step-module.js";
import type { AdamWOptions } from "./adamw.js";
import type { StepSchedule } from "./micro-batch.js";

interface SampleAttrs {
  candidates: number;
  m: number;
  /** S [C, M]: attrs are handed to the kernel as they are, so the step's arrays need no conversion */
  s: Float32Array;
  scale: number;
  hard: boolean;
}

const sample = fusedKernel<SampleAttrs>("MaskforgeSampleMasks", (k, { logits, noise }, a) => {
  const groups = logits.shape[0];
  const layout = { groups, candidates: a.candidates, m: a.m, s: a.s };
  return k.outputs([[groups, a.candidates], [groups, a.m]], ([probs, masks]) => sampleKernel(layout, k.read(logits), k.read(noise), a.scale, a.hard, probs, masks));
});

/** ỹ [groups, C] and M̃ [groups, M] from the logits and the noise (already divided by τ); s: S [C, M] row-major. */
export function fusedSampleMasks(logits: tf.Tensor2D, noiseOverTau: tf.Tensor2D, s: Float32Array, m: number, sch: StepSchedule, hard: boolean): { probs: tf.Tensor2D; masks: tf.Tensor2D } {
  const [probs, masks] = sample({ logits, noise: noiseOverTau }, { candidates: logits.shape[1], m, s, scale: sch.kappa / sch.tau, hard }) as tf.Tensor2D[];
  return { probs, masks };
}

type UpdateAttrs = AdamWOptions & { candidates: number; m: number; s: Float32Array; scale: number; twoLambda: number; clip: number; lr: number; t: number };

const update = fusedKernel<UpdateAttrs>("MaskforgeLogitsUpdate", (k, { logits, mom, vel, probs, masks, lmGrad, w2 }, a) => {
  const groups = logits.shape[0];
  const layout = { groups, candidates: a.candidates, m: a.m, s: a.s };
  const u = {
    scale: a.scale,
    twoLambda: a.twoLambda,
    clip: a.clip,
    beta1: a.beta1,
    beta2: a.beta2,
    eps: a.eps,
    decay: 1 - a.lr * a.weightDecay,
    stepSize: a.lr / (1 - a.beta1 ** a.t),
    invSqrtBc2: 1 / Math.sqrt(1 - a.beta2 ** a.t),
  };
  return k.outputs([logits.shape, logits.shape, logits.shape, [3]], ([nl, nm, nv, stats]) => {
    const r = updateLogits(layout, { logits: k.read(logits), m: k.read(mom), v: k.read(vel) }, { probs: k.read(probs), masks: k.read(masks), lmGrad: k.read(lmGrad), weightSquared: k.read(w2) }, u, { logits: nl, m: nm, v: nv });
    stats.set([r.reg, r.maxProb, r.gradNorm]);
  });
});

/**
 * One optimiser step of the logits variable and the AdamW moments (t: 1-based update count). Returns
 * Σ‖W ⊙ M̃‖², the mean largest candidate probability and the gradient's norm before clipping, as scalars.
 */
export function fusedLogitsUpdate(
  state: { logits: tf.Variable; m: tf.Variable; v: tf.Variable },
  step: { probs: tf.Tensor2D; masks: tf.Tensor2D; lmGrad: tf.Tensor2D; weightSquared: tf.Tensor2D },
  s: Float32Array,
  sch: StepSchedule & { lr: number; t: number },
  opts: AdamWOptions & { gradClip: number },
): { reg: tf.Scalar; maxProb: tf.Scalar; norm: tf.Scalar } {
  return tf.tidy(() => {
    const attrs: UpdateAttrs = {
      candidates: state.logits.shape[1]!,
      m: step.masks.shape[1],
      s,
      scale: sch.kappa / sch.tau,
      twoLambda: 2 * sch.lambda,
      clip: opts.gradClip,
      lr: sch.lr,
      t: sch.t,
      beta1: opts.beta1,
      beta2: opts.beta2,
      eps: opts.eps,
      weightDecay: opts.weightDecay,
    };
    const [nl, nm, nv, stats] = update({ logits: state.logits, mom: state.m, vel: state.v, probs: step.probs, masks: step.masks, lmGrad: step.lmGrad, w2: step.weightSquared }, attrs);
    state.logits.assign(nl);
    state.m.assign(nm);
    state.v.assign(nv);
    const [reg, maxProb, norm] = tf.unstack(stats) as tf.Scalar[];
    return { reg, maxProb, norm };
  });
}
