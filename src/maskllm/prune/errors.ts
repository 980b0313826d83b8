// Typed errors of one-shot pruning: bad input (shapes, patterns, layer selection, non-finite statistics)
// is the caller's fault and must not be retried.

export class PruneInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PruneInputError";
  }
}
