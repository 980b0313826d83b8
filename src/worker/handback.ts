// Handing a training job back when the worker shuts down. The training loop only stores its state at snapshot
// steps, so stopping at once drops every step since the last one. Instead, when the next snapshot is near (at
// the measured pace, if any, within the grace period, and before training would end), training runs on to it and
// stops right after it is stored; the next worker resumes from there. A cancel, a lost job, a far snapshot or
// no snapshots at all stop at once, and the grace timer bounds the wait whatever the pace does.

/** The reason the queue aborts a job when the worker shuts down (worker.cancelAllJobs). */
export const HANDBACK_REASON = "worker-shutdown";

/** Longest a shutdown waits for the next snapshot: well inside the usual 30 s before a SIGKILL follows SIGTERM. */
export const HANDBACK_GRACE_MS = 15_000;

export function isHandback(reason: unknown): boolean {
  return reason === HANDBACK_REASON || (reason as Error | undefined)?.message === HANDBACK_REASON;
}

/** The abort signal training sees: the job's own, except that a hand-back waits for a near snapshot. */
export class TrainingStopGate {
  private readonly controller = new AbortController();
  private step = 0;
  private secondsPerStep?: number;
  private pending?: unknown;
  private timer?: NodeJS.Timeout;
  private readonly onAbort = () => this.decide(this.outer.reason);

  constructor(
    private readonly outer: AbortSignal,
    private readonly plan: { steps: number; snapshotEvery: number; graceMs?: number },
  ) {
    if (outer.aborted) this.decide(outer.reason);
    else outer.addEventListener("abort", this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The step reached and the pace, from the loop's progress reports. */
  progress(step: number, stepsPerSec: number): void {
    this.step = step;
    if (stepsPerSec > 0 && Number.isFinite(stepsPerSec)) this.secondsPerStep = 1 / stepsPerSec;
  }

  /** Called once a snapshot is stored: a waiting hand-back stops now. */
  snapshotted(step: number): void {
    this.step = step;
    if (this.pending !== undefined) this.stop(this.pending);
  }

  /** Whether a hand-back is waiting for the next snapshot. */
  get waiting(): boolean {
    return this.pending !== undefined && !this.controller.signal.aborted;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener("abort", this.onAbort);
  }

  private decide(reason: unknown): void {
    const { steps, snapshotEvery } = this.plan;
    const grace = this.plan.graceMs ?? HANDBACK_GRACE_MS;
    if (!isHandback(reason) || snapshotEvery <= 0) return this.stop(reason);
    const next = (Math.floor(this.step / snapshotEvery) + 1) * snapshotEvery;
    // past the last step no snapshot comes: training would end and the hand-back would drop it all
    if (next >= steps) return this.stop(reason);
    // with no pace measured yet, the grace timer alone bounds the wait
    if (this.secondsPerStep !== undefined && (next - this.step) * this.secondsPerStep * 1000 > grace) return this.stop(reason);
    this.pending = reason;
    this.timer = setTimeout(() => this.stop(reason), grace);
    this.timer.unref();
  }

  private stop(reason: unknown): void {
    clearTimeout(this.timer);
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}
