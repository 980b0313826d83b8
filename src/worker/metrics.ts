// Worker metrics for Prometheus on config.workerMetricsPort: busy processors, training steps/s and tokens/s
// (reported by the sandboxed processors through BullMQ progress), stage durations and finished jobs.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ProgressPayload } from "./reporter.js";

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly busy = new Gauge({ name: "maskforge_worker_busy_processors", help: "sandboxed processors running a job", registers: [this.registry] });
  readonly concurrency = new Gauge({ name: "maskforge_worker_concurrency", help: "processors this worker runs at most", registers: [this.registry] });
  readonly stepsPerSec = new Gauge({ name: "maskforge_worker_training_steps_per_second", help: "MaskLLM training steps per second, summed over running jobs", registers: [this.registry] });
  readonly tokensPerSec = new Gauge({ name: "maskforge_worker_training_tokens_per_second", help: "training tokens per second, summed over running jobs", registers: [this.registry] });
  readonly finished = new Counter({ name: "maskforge_worker_jobs_finished_total", help: "jobs this worker finished, by BullMQ outcome", labelNames: ["outcome"], registers: [this.registry] });
  readonly stageSeconds = new Histogram({
    name: "maskforge_worker_stage_seconds", help: "time spent in each pipeline stage", labelNames: ["stage"],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200], registers: [this.registry],
  });
  private readonly perJob = new Map<string, { stage: string | null; since: number; steps: number; tokens: number }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "maskforge_worker_" });
  }

  started(jobId: string): void {
    this.perJob.set(jobId, { stage: null, since: performance.now(), steps: 0, tokens: 0 });
    this.busy.set(this.perJob.size);
  }

  progress(jobId: string, p: ProgressPayload): void {
    const j = this.perJob.get(jobId);
    if (!j) return;
    if (p.stage !== j.stage) {
      if (j.stage) this.stageSeconds.observe({ stage: j.stage }, (performance.now() - j.since) / 1000);
      j.stage = p.stage;
      j.since = performance.now();
    }
    j.steps = p.stage === "training" ? (p.stepsPerSec ?? 0) : 0;
    j.tokens = p.stage === "training" ? (p.tokensPerSec ?? 0) : 0;
    this.sum();
  }

  ended(jobId: string, outcome: "completed" | "failed"): void {
    const j = this.perJob.get(jobId);
    if (j?.stage) this.stageSeconds.observe({ stage: j.stage }, (performance.now() - j.since) / 1000);
    this.perJob.delete(jobId);
    this.busy.set(this.perJob.size);
    this.finished.inc({ outcome });
    this.sum();
  }

  private sum(): void {
    let s = 0;
    let t = 0;
    for (const j of this.perJob.values()) {
      s += j.steps;
      t += j.tokens;
    }
    this.stepsPerSec.set(s);
    this.tokensPerSec.set(t);
  }

  /** Serves GET /metrics; port 0 picks a free one. */
  async listen(port: number, host = "0.0.0.0"): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    return server;
  }
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
