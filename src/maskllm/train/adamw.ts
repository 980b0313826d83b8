// AdamW (decoupled weight decay, PyTorch/apex "adam_w_mode" form) on the mask logits; TF.js has no AdamW.
// p ← p·(1 − lr·wd) − (lr/bc1)·m / (√v/√bc2 + eps). The moments are tf.Variables so updates stay on the backend.
import * as tf from "@tensorflow/tfjs";

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class AdamW {
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: Map<string, tf.Variable>,
    private readonly opts: AdamWOptions,
    state?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> },
  ) {
    for (const [name, p] of params) {
      const m0 = state?.m.get(name);
      const v0 = state?.v.get(name);
      // tidy frees the initial tensors: a variable keeps its own reference to the data
      this.m.set(name, tf.tidy(() => tf.variable(m0 ? tf.tensor(m0, p.shape) : tf.zerosLike(p), false)));
      this.v.set(name, tf.tidy(() => tf.variable(v0 ? tf.tensor(v0, p.shape) : tf.zerosLike(p), false)));
    }
  }

  /** One update; t is the 1-based count of updates including this one. Call inside tf.tidy. */
  apply(grads: Map<string, tf.Tensor>, lr: number, t: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.opts;
    const stepSize = lr / (1 - b1 ** t);
    const invSqrtBc2 = 1 / Math.sqrt(1 - b2 ** t);
    const decay = 1 - lr * wd;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
      const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
      const denom = tf.add(tf.mul(tf.sqrt(v1), invSqrtBc2), eps);
      m.assign(m1);
      v.assign(v1);
      p.assign(tf.sub(tf.mul(p, decay), tf.mul(tf.div(m1, denom), stepSize)));
    }
  }

  dispose(): void {
    for (const x of this.m.values()) x.dispose();
    for (const x of this.v.values()) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
