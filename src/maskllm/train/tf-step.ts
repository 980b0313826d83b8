// One MaskLLM step on TF.js tensors: the path of backends without our WebAssembly kernels (webgpu, tensorflow), and
// of the fused TF.js ops on wasm/cpu when the host trainer cannot take a model. The logits live in ONE [Σgroups, C]
// variable (rows in target order): the mask, regulariser, clipping and AdamW cost a handful of ops per step
// instead of a handful per linear; tf.split hands each linear its rows. Micro-batches may run on replicas.
import * as tf from "@tensorflow/tfjs";
import { weight, type LlamaModel } from "../llama/model.js";
import { candidateMatrix, candidateMatrixValues, type NMPattern } from "../mask/patterns.js";
import { fusedKernelsSupported } from "../kernels/fused-kernel.js";
import { gumbelNoiseInto } from "../kernels/gumbel-module.js";
import { fusedLogitsUpdate, fusedSampleMasks } from "./fused-step.js";
import { AdamW } from "./adamw.js";
import { clipByGlobalNorm } from "./clip.js";
import type { MaskTarget } from "./logits.js";
import { logitsGradient, microBatchMaskGradient, sampleMasks, type GradientReplicas, type GradientTiming, type MaskContext, type MicroBatch } from "./micro-batch.js";
import { seedFor } from "./rng.js";
import type { MaskTrainingOptions } from "./options.js";
import type { HostLogitsState, HostStepReport, HostStepSchedule } from "../host/step.js";

/** The parts of a run's StepTiming (stepper.ts, which says what each counts) that this path adds to. */
export interface TfStepTiming extends GradientTiming {
  noiseMs: number;
  maskMs: number;
  replicaWaitMs: number;
  optimizerMs: number;
}

export class TfStepper {
  private readonly logitsVar: tf.Variable;
  private readonly adam: AdamW;
  private readonly consts: tf.Tensor[] = [];
  private readonly ctx: MaskContext;
  private readonly sValues: Float32Array;
  private readonly fused: boolean;
  private readonly noise: Float32Array;
  private readonly offsets: number[] = [];
  private readonly c: number;

  constructor(
    model: LlamaModel,
    private readonly targets: MaskTarget[],
    private readonly groups: number[],
    private readonly p: NMPattern,
    private readonly opts: MaskTrainingOptions,
    init: HostLogitsState,
    private readonly seqLen: number,
    private readonly replicas: GradientReplicas | undefined,
  ) {
    const total = groups.reduce((a, b) => a + b, 0);
    this.c = init.logits.length / total;
    groups.reduce((off, g) => (this.offsets.push(off), off + g), 0);
    this.logitsVar = tf.tidy(() => tf.variable(tf.tensor2d(init.logits, [total, this.c]), true));
    this.adam = new AdamW(new Map([["logits", this.logitsVar]]), opts, { m: new Map([["logits", init.m]]), v: new Map([["logits", init.v]]) });
    const S = candidateMatrix(p);
    this.consts.push(S);
    this.sValues = candidateMatrixValues(p);
    // the step's mask math as two fused kernels where the backend allows (fused-step.ts), TF.js ops elsewhere
    this.fused = fusedKernelsSupported();
    // W² of every target as [Σgroups, M] (a weight's row-major values are its groups in order)
    const w2 = tf.tidy(() => tf.concat(targets.map((t, i) => tf.reshape(tf.square(weight(model, t.name)), [groups[i], p.m])), 0) as tf.Tensor2D);
    this.consts.push(w2);
    this.ctx = { model, targets, groups, candidates: S, weightSquared: w2, hard: opts.hard };
    this.noise = new Float32Array(total * this.c);
  }

  async prepare(): Promise<void> {
    if (this.replicas && this.replicas.parallelism > 0) await this.replicas.prepare({ targets: this.targets, groupSize: this.p.m, seqLen: this.seqLen });
  }

  state(): HostLogitsState {
    return { logits: this.logitsVar.dataSync() as Float32Array, m: this.adam.m.get("logits")!.dataSync() as Float32Array, v: this.adam.v.get("logits")!.dataSync() as Float32Array };
  }

  async step(step: number, sch: HostStepSchedule, parts: MicroBatch[], wantReport: boolean, timing: TfStepTiming): Promise<HostStepReport | undefined> {
    const { c, opts, ctx } = this;
    const v = this.logitsVar;
    const total = this.groups.reduce((a, b) => a + b, 0);
    let tic = performance.now();
    const invTau = 1 / sch.tau;
    this.targets.forEach((_, i) => gumbelNoiseInto(this.noise.subarray(this.offsets[i] * c, (this.offsets[i] + this.groups[i]) * c), seedFor(opts.seed, step, i), invTau));
    timing.noiseMs += performance.now() - tic;

    const schedule = { kappa: sch.kappa, tau: sch.tau, lambda: sch.lambda };
    const replicas = this.replicas;
    // part k runs on thread k mod T (0 = here); replicas start first so that they work while this thread does
    const threads = Math.min(parts.length, 1 + (replicas?.parallelism ?? 0));
    const remote = parts.filter((_, k) => k % threads !== 0);
    tic = performance.now();
    const { probs, masks } = tf.tidy(() => {
      const noiseT = tf.tensor2d(this.noise, [total, c]);
      const logits = v as tf.Tensor as tf.Tensor2D;
      return this.fused ? fusedSampleMasks(logits, noiseT, this.sValues, this.p.m, schedule, opts.hard) : sampleMasks(ctx, logits, noiseT, schedule);
    });
    timing.maskMs += performance.now() - tic;
    const held: tf.Tensor[] = [probs, masks];
    try {
      const pending = remote.length > 0 ? replicas!.compute({ masks: masks.dataSync() as Float32Array, microBatches: remote }) : undefined;
      pending?.catch(() => {}); // awaited below; an error here first must not leave it unhandled
      const local: ({ grad: tf.Tensor2D; lm: tf.Scalar } | undefined)[] = [];
      parts.forEach((mb, k) => {
        if (k % threads !== 0) return;
        const r = microBatchMaskGradient(ctx, masks, mb, this.seqLen, timing);
        held.push(r.grad, r.lm);
        local[k] = r;
      });
      tic = performance.now();
      const remoteGrads = pending ? await pending : [];
      timing.replicaWaitMs += performance.now() - tic;

      tic = performance.now();
      const out = tf.tidy(() => {
        // the parts in order: the same float32 additions whichever thread computed each part
        let grad: tf.Tensor2D | undefined;
        let lm: tf.Tensor | undefined;
        let r = 0;
        parts.forEach((_, k) => {
          const l = local[k];
          const g = l ? l.grad : tf.tensor2d(remoteGrads[r].grad, masks.shape);
          const s = l ? l.lm : tf.scalar(remoteGrads[r++].lm);
          grad = grad ? (tf.add(grad, g) as tf.Tensor2D) : g;
          lm = lm ? tf.add(lm, s) : s;
        });
        if (this.fused) {
          const state = { logits: v, m: this.adam.m.get("logits")!, v: this.adam.v.get("logits")! };
          const u = fusedLogitsUpdate(state, { probs, masks, lmGrad: grad!, weightSquared: ctx.weightSquared }, this.sValues, { ...schedule, lr: sch.lr, t: step + 1 }, opts);
          return { norm: u.norm, stats: tf.stack([lm!, u.reg, u.maxProb]) };
        }
        const lg = logitsGradient(ctx, probs, masks, grad!, schedule);
        const { clipped, norm } = clipByGlobalNorm(new Map([["logits", lg.grad]]), opts.gradClip);
        this.adam.apply(clipped, sch.lr, step + 1);
        return { norm, stats: tf.stack([lm!, lg.reg, lg.maxProb]) };
      });
      held.push(out.norm, out.stats);
      let report: HostStepReport | undefined;
      if (wantReport) {
        const [lmLoss, regLoss, maxProb] = Array.from(out.stats.dataSync());
        report = { lmLoss, regLoss, maxProb, gradNorm: out.norm.dataSync()[0] };
      }
      timing.optimizerMs += performance.now() - tic;
      return report;
    } finally {
      tf.dispose(held);
    }
  }

  dispose(): void {
    this.logitsVar.dispose();
    this.adam.dispose();
    for (const t of this.consts) t.dispose();
  }
}
