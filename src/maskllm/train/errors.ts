// What a MaskLLM run throws on its own account (its parts throw theirs: MaskShapeError, SnapshotError, ModelError):
// inputs it cannot train on, and an abort seen between two steps.
export class TrainingInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainingInputError";
  }
}

export class TrainingAbortedError extends Error {
  constructor(readonly step: number) {
    super(`mask training aborted after ${step} completed steps`);
    this.name = "TrainingAbortedError";
  }
}
