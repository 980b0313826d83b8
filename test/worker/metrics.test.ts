// Prometheus endpoints: the API's /metrics (jobs by status from Postgres, queue depth from BullMQ, stage
// durations from the workers' timing events) and the worker's own metrics port (busy processors, steps/s).
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildTestApp } from "../helpers/app.js";
import { WorkerMetrics, portOf } from "../../src/worker/metrics.js";

test("API /metrics reports jobs by status, queue depth and stage durations", async (t) => {
  const app = await buildTestApp(t);
  const res = await app.inject({ method: "GET", url: "/metrics" });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers["content-type"] as string, /text\/plain/);
  for (const s of ["queued", "running", "succeeded", "failed", "cancelled"]) assert.match(res.body, new RegExp(`maskforge_jobs\\{status="${s}"\\} \\d+`));
  assert.match(res.body, /maskforge_queue_jobs\{state="waiting"\} \d+/);
  assert.match(res.body, /maskforge_metrics_source_up\{source="postgres"\} 1/);
  assert.match(res.body, /maskforge_metrics_source_up\{source="redis"\} 1/);
});

test("worker metrics port: busy processors and training rates follow the jobs' progress", async (t) => {
  const m = new WorkerMetrics();
  const server = await m.listen(0, "127.0.0.1");
  t.after(() => server.close());
  m.started("a");
  m.progress("a", { stage: "training", progress: 0.5, step: 10, steps: 20, stepsPerSec: 4, tokensPerSec: 512 });
  const body = await (await fetch(`http://127.0.0.1:${portOf(server)}/metrics`)).text();
  assert.match(body, /maskforge_worker_busy_processors 1/);
  assert.match(body, /maskforge_worker_training_steps_per_second 4/);
  assert.match(body, /maskforge_worker_training_tokens_per_second 512/);
  m.ended("a", "completed");
  const after = await (await fetch(`http://127.0.0.1:${portOf(server)}/metrics`)).text();
  assert.match(after, /maskforge_worker_busy_processors 0/);
  assert.match(after, /maskforge_worker_stage_seconds_count\{stage="training"\} 1/);
  assert.match(after, /maskforge_worker_jobs_finished_total\{outcome="completed"\} 1/);
});
