// What a running job tells the world: stage changes (with their timing), progress, throttled metrics events, log
// lines and stored snapshots (event and artifact row), and, in the other direction, whether it should stop. The
// pipeline writes to Postgres only through here. One timer per job polls Postgres at most once a second:
// updateProgress() writes the progress and returns the cancel flag in the same UPDATE, so watching for a cancel
// costs nothing extra; the same tick forwards progress to BullMQ (the worker's metrics come from there).
import type { Prisma } from "@prisma/client";
import type { EventLevel } from "../contract/events.js";
import { JOB_EVENT_TYPES } from "../contract/events.js";
import { JobCancelledError, JobLostError } from "../contract/errors.js";
import { JOB_STAGES, type JobStage } from "../contract/status.js";
import { appendEvent, updateProgress } from "../db/jobs.repository.js";
import { setStage, type Db } from "../db/transitions.js";
import type { PutResult } from "../storage/index.js";
import type { StageEvents } from "./stages.js";

/** Share of the overall progress bar each stage covers (training dominates a MaskLLM run). */
const STAGE_WEIGHTS: Record<JobStage, number> = {
  fetching: 4, validating: 1, calibrating: 8, training: 70, trimming: 1, evaluating: 10, exporting: 3, uploading: 3,
};

export interface ProgressPayload {
  stage: JobStage | null;
  progress: number;
  step?: number;
  steps?: number;
  stepsPerSec?: number;
  tokensPerSec?: number;
}

export interface ReporterOptions {
  pollMs?: number;
  /** at most one job.metrics event per this many ms (the last one of a stage is always written) */
  metricsEveryMs?: number;
  /** forwards progress to the queue (BullMQ job.updateProgress) */
  onProgress?: (p: ProgressPayload) => Promise<void> | void;
  /** skipped stages (one-shot methods skip training and trimming) do not take a share of the bar */
  skip?: JobStage[];
  /** after a stage's job.stage event is written (webhooks) */
  onStage?: (stage: JobStage) => Promise<void>;
}

export class JobReporter implements StageEvents {
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;
  private current: JobStage | null = null;
  private stageStart = performance.now();
  private within = 0;
  private lastWritten = -1;
  private extra: Partial<ProgressPayload> = {};
  private lastMetricsAt = 0;
  private pendingMetrics?: Record<string, unknown>;
  private polling?: Promise<void>;
  readonly stageSeconds: Partial<Record<JobStage, number>> = {};
  private readonly bounds = new Map<JobStage, [number, number]>();

  constructor(
    private readonly db: Db,
    private readonly jobId: string,
    external: AbortSignal | undefined,
    private readonly opts: ReporterOptions = {},
  ) {
    // the queue's signal (worker shutting down) stops the job too, with its own reason
    external?.addEventListener("abort", () => this.controller.abort(external.reason), { once: true });
    const used = JOB_STAGES.filter((s) => !opts.skip?.includes(s));
    const total = used.reduce((a, s) => a + STAGE_WEIGHTS[s], 0);
    let acc = 0;
    for (const s of used) {
      this.bounds.set(s, [acc / total, (acc + STAGE_WEIGHTS[s]) / total]);
      acc += STAGE_WEIGHTS[s];
    }
  }

  /** Aborted on cancel (reason JobCancelledError), shutdown (the queue's reason) or a lost job (JobLostError). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Throws the abort reason if the job must stop: call between units of work. */
  check(): void {
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  get overall(): number {
    if (!this.current) return 0;
    const [a, b] = this.bounds.get(this.current) ?? [0, 0];
    return a + (b - a) * Math.min(1, Math.max(0, this.within));
  }

  /** Ends the current stage (a job.log event with its duration) and starts the next (job.stage). */
  async stage(stage: JobStage): Promise<void> {
    this.check();
    await this.endStage();
    this.current = stage;
    this.within = 0;
    this.extra = {};
    this.stageStart = performance.now();
    if (!(await setStage(this.db, this.jobId, stage, { progress: this.overall }))) {
      await this.poll();
      this.check();
      throw new JobLostError(this.jobId);
    }
    await this.opts.onStage?.(stage);
  }

  /** Records the last stage's duration; call once at the end of the pipeline. */
  async endStage(): Promise<void> {
    if (!this.current) return;
    await this.flushMetrics();
    const seconds = (performance.now() - this.stageStart) / 1000;
    this.stageSeconds[this.current] = seconds;
    await appendEvent(this.db, this.jobId, {
      type: JOB_EVENT_TYPES.log,
      message: `stage ${this.current} done in ${seconds.toFixed(2)} s`,
      data: { stage: this.current, seconds },
    });
  }

  /** Progress within the current stage (0..1) and figures the queue should see; written by the next tick. */
  progress(within: number, extra: Partial<ProgressPayload> = {}): void {
    this.within = within;
    this.extra = extra;
  }

  /** A job.metrics event, at most one per metricsEveryMs; the latest pending one is written at the stage's end. */
  async metrics(data: Record<string, unknown>, force = false): Promise<void> {
    const now = performance.now();
    if (!force && now - this.lastMetricsAt < (this.opts.metricsEveryMs ?? 2000)) {
      this.pendingMetrics = data;
      return;
    }
    this.lastMetricsAt = now;
    this.pendingMetrics = undefined;
    await appendEvent(this.db, this.jobId, { type: JOB_EVENT_TYPES.metrics, data: data as Prisma.InputJsonValue });
  }

  /** The storage key of the job's latest snapshot (an earlier attempt's), if it has one. */
  async latestSnapshotKey(): Promise<string | undefined> {
    const row = await this.db.artifact.findFirst({ where: { jobId: this.jobId, kind: "snapshot" }, orderBy: [{ createdAt: "desc" }, { storageKey: "desc" }] });
    return row?.storageKey;
  }

  /** A job.log event. */
  async log(message: string, data?: Record<string, unknown>, level?: EventLevel): Promise<void> {
    await appendEvent(this.db, this.jobId, { type: JOB_EVENT_TYPES.log, message, ...(level ? { level } : {}), ...(data ? { data: data as Prisma.InputJsonValue } : {}) });
  }

  /**
   * A training snapshot now in storage: the job's snapshot artifact row names it instead of the last one (the new
   * row first: killed in between, two rows remain and the newer wins), and a job.snapshot event. Returns the keys of
   * the snapshots it replaces, for the caller to delete.
   */
  async snapshotStored(put: PutResult, step: number, forHandback: boolean): Promise<string[]> {
    const art = await this.db.artifact.upsert({
      where: { storageKey: put.key },
      create: { jobId: this.jobId, kind: "snapshot", name: "snapshot.safetensors", storageKey: put.key, bytes: BigInt(put.bytes), sha256: put.sha256 },
      update: { bytes: BigInt(put.bytes), sha256: put.sha256 },
    });
    const older = { jobId: this.jobId, kind: "snapshot" as const, NOT: { storageKey: put.key } };
    const replaced = (await this.db.artifact.findMany({ where: older, select: { storageKey: true } })).map((o) => o.storageKey);
    await this.db.artifact.deleteMany({ where: older });
    await appendEvent(this.db, this.jobId, {
      type: JOB_EVENT_TYPES.snapshot,
      message: forHandback ? `snapshot at step ${step}, taken for the hand-back on shutdown` : `snapshot at step ${step}`,
      data: { step, artifactId: art.id, ...(forHandback ? { reason: "shutdown" } : {}) },
    });
    return replaced;
  }

  private async flushMetrics(): Promise<void> {
    if (this.pendingMetrics) await this.metrics(this.pendingMetrics, true);
  }

  /** One poll: write progress, read the cancel flag, forward progress to the queue. Never throws. */
  poll(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      try {
        const progress = this.overall;
        const r = await updateProgress(this.db, this.jobId, {
          progress,
          ...(this.extra.stepsPerSec && this.extra.steps && this.extra.step !== undefined ? { etaSeconds: (this.extra.steps - this.extra.step) / this.extra.stepsPerSec } : {}),
        });
        if (r.cancelRequested) this.controller.abort(new JobCancelledError(this.jobId));
        else if (!r.running) this.controller.abort(new JobLostError(this.jobId));
        if (progress !== this.lastWritten || this.extra.step !== undefined) {
          this.lastWritten = progress;
          await this.opts.onProgress?.({ stage: this.current, progress, ...this.extra });
        }
      } catch {
        // a database hiccup must not kill the job; the next tick tries again
      } finally {
        this.polling = undefined;
      }
    })();
    return this.polling;
  }
}
