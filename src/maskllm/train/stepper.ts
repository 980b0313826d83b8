// The one step() a run calls, whichever path computes it: where the WebAssembly kernels run, the host trainer's
// (host/step.ts: host arrays, products split over an Executor's threads), elsewhere TF.js's (tf-step.ts, with
// replicas). Both update the [Σgroups, C] logits and moments of logits-layout.ts and report the same figures.
import type { LlamaModel } from "../llama/model.js";
import { candidateMatrixValues, type NMPattern } from "../mask/patterns.js";
import { HostEngine } from "../host/engine.js";
import type { Executor } from "../host/ops.js";
import { HostStepper, type HostLogitsState, type HostStepReport, type HostStepSchedule } from "../host/step.js";
import type { LogitsLayout } from "./logits-layout.js";
import type { GradientReplicas, GradientTiming, MicroBatch } from "./micro-batch.js";
import type { MaskTrainingOptions } from "./options.js";
import { TfStepper } from "./tf-step.js";

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

export interface Stepper {
  /** Step `step` (0-based) over the batch's parts; the report (losses, max probability, gradient norm) at least when wantReport. */
  step(step: number, sch: HostStepSchedule, parts: MicroBatch[], wantReport: boolean, timing: StepTiming): Promise<HostStepReport | undefined>;
  /** the logits and moments as they are now */
  state(): HostLogitsState;
  dispose(): void;
}

export interface StepperInput {
  model: LlamaModel;
  layout: LogitsLayout;
  pattern: NMPattern;
  opts: MaskTrainingOptions;
  /** the first state; the host path updates these arrays in place, the TF.js path copies them into variables */
  state: HostLogitsState;
  seqLen: number;
  /** the host path's threads; without one, the TF.js path */
  exec?: Executor;
  /** the host path's weights, HF names, row-major (default: read from model.weights) */
  hostWeights?: Map<string, Float32Array>;
  /** the TF.js path's replicas */
  replicas?: GradientReplicas;
}

export async function createStepper(input: StepperInput): Promise<Stepper> {
  const { model, layout, pattern: p, opts, state, seqLen, exec } = input;
  const { targets, groups } = layout;
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
    return {
      step: async (step, sch, parts, _want, timing) => h.step(state, step, sch, parts, timing),
      state: () => state,
      dispose: () => {},
    };
  }
  const tfs = new TfStepper(model, targets, groups, p, opts, state, seqLen, input.replicas);
  try {
    await tfs.prepare();
  } catch (err) {
    tfs.dispose();
    throw err;
  }
  return tfs;
}
