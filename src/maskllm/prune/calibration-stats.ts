// Per-linear input statistics, accumulated batch by batch from ForwardOptions.onLinearInput so that no
// activation outlives its batch: column squared norms (Wanda) or XᵀX (SparseGPT), summed in Float64.
import * as tf from "@tensorflow/tfjs";

export type StatKind = "columnNorms" | "gram";

export interface LinearStats {
  kind: StatKind;
  features: number;
  tokens: number;
  /** columnNorms: Σ_t x_tj² [in]; gram: Σ_t x_t x_tᵀ [in, in] row-major */
  sums: Float64Array;
}

/**
 * Collects statistics for a fixed set of weight names. q/k/v (and gate/up) see the same input tensor, so a batch's
 * contribution is computed once per tensor and shared.
 */
export class StatsCollector {
  readonly stats = new Map<string, LinearStats>();
  private cache = new Map<number, Float32Array>();

  constructor(private readonly kind: StatKind, private readonly names: ReadonlySet<string>) {}

  /** The onLinearInput hook. */
  readonly onLinearInput = (name: string, x: tf.Tensor2D): void => {
    if (!this.names.has(name)) return;
    const [tokens, features] = x.shape;
    let contribution = this.cache.get(x.id);
    if (!contribution) {
      // an explicit transpose: on the wasm backend matMul(x, x, transposeA) ran ~20× slower than transpose + matMul
      const t = tf.tidy(() => (this.kind === "gram" ? tf.matMul(tf.transpose(x), x) : tf.sum(tf.square(x), 0)));
      contribution = t.dataSync() as Float32Array; // a copy out of the backend, so the tensor can go
      t.dispose(); // tidy hands its result back alive: without this every batch leaked an [in, in] tensor
      this.cache.set(x.id, contribution);
    }
    let s = this.stats.get(name);
    if (!s) {
      s = { kind: this.kind, features, tokens: 0, sums: new Float64Array(this.kind === "gram" ? features * features : features) };
      this.stats.set(name, s);
    }
    const sums = s.sums;
    for (let i = 0; i < sums.length; i++) sums[i] += contribution[i];
    s.tokens += tokens;
  };

  /** Call after each batch: the cached contributions belong to tensors that no longer exist. */
  endBatch(): void {
    this.cache.clear();
  }
}
