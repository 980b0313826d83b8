// Which calibration windows each step trains on: a fresh seeded permutation of the windows per epoch, consumed in
// order, so a step's batch depends on (seed, step) alone and a resumed run sees the batches an uninterrupted one would.
import { TrainingInputError } from "./errors.js";
import { permutation, seedFor } from "./rng.js";

/** The windows' common length in tokens, once they are known to train: at least one, all one length >= 2, every id in the vocabulary. */
export function windowLength(windows: Int32Array[], vocab: number): number {
  if (windows.length === 0) throw new TrainingInputError("no calibration windows");
  const seqLen = windows[0].length;
  if (seqLen < 2 || windows.some((w) => w.length !== seqLen)) throw new TrainingInputError("calibration windows must all have the same length >= 2");
  for (const w of windows) for (let i = 0; i < w.length; i++) if (w[i] < 0 || w[i] >= vocab) throw new TrainingInputError(`token id ${w[i]} is outside the vocabulary (${vocab})`);
  return seqLen;
}

/** The windows of step `step`: a fresh seeded permutation per epoch, consumed in order. */
export class DataOrder {
  private epoch = -1;
  private perm: Int32Array = new Int32Array(0);
  constructor(private readonly windows: Int32Array[], private readonly seed: number, private readonly batchSize: number) {}

  batch(step: number): Int32Array {
    const seqLen = this.windows[0].length;
    const out = new Int32Array(this.batchSize * seqLen);
    const w = this.windows.length;
    for (let b = 0; b < this.batchSize; b++) {
      const i = step * this.batchSize + b;
      const e = Math.floor(i / w);
      if (e !== this.epoch) {
        this.epoch = e;
        this.perm = permutation(w, seedFor(this.seed, e, -2));
      }
      out.set(this.windows[this.perm[i % w]], b * seqLen);
    }
    return out;
  }
}
