// How jobs read in a terminal: one-line summaries, the text after a progress bar, and the perplexities
// pulled out of a job's metrics wherever the pipeline nests them.
import type { JobView } from "../../contract/api/components.js";
import type { JobEventView } from "../../contract/events.js";
import { formatDuration } from "./progress.js";

export function jobLabel(job: JobView): string {
  return job.spec.metadata.name ?? `${job.spec.method} ${job.spec.pattern}`;
}

const num = (v: unknown, digits = 4) => (typeof v === "number" && Number.isFinite(v) ? (Math.abs(v) >= 1000 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(digits)) : undefined);

/** The text after a job's bar: status or stage, then the latest training figures and the ETA. */
export function progressInfo(job: JobView, latest?: Record<string, unknown>): string {
  const parts: string[] = [job.status === "running" ? (job.stage ?? "starting") : job.status];
  if (job.status === "running" && latest) {
    if (typeof latest.step === "number") parts.push(`step ${latest.step}${typeof latest.steps === "number" ? `/${latest.steps}` : ""}`);
    for (const [k, label] of [["loss", "loss"], ["tau", "τ"], ["maskChange", "Δmask"]] as const) {
      const v = num(latest[k]);
      if (v !== undefined) parts.push(`${label} ${v}`);
    }
  }
  // the worker estimates the ETA from the training speed; other stages leave a stale figure behind
  if (job.status === "running" && job.stage === "training" && typeof job.etaSeconds === "number" && job.etaSeconds >= 1) parts.push(`eta ${formatDuration(job.etaSeconds)}`);
  if (job.status === "failed" && job.error?.message) parts.push(`${job.error.code}: ${job.error.message}`);
  return parts.join(" ");
}

/** Figures of a job.metrics event, if it is one. */
export function metricsOf(ev: JobEventView): Record<string, unknown> | undefined {
  return ev.type === "job.metrics" && ev.data && typeof ev.data === "object" ? (ev.data as Record<string, unknown>) : undefined;
}

/** A line for an event worth showing a human (stage changes, logs, artifacts, the end); undefined otherwise. */
export function eventLine(ev: JobEventView): string | undefined {
  if (ev.type === "job.metrics" || ev.type === "job.snapshot") return undefined;
  const d = (ev.data ?? {}) as Record<string, unknown>;
  if (ev.type === "job.stage") return `stage ${String(d.stage)}`;
  if (ev.type === "job.artifact") return `artifact ${String(d.name ?? d.kind)}${d.bytes !== undefined ? ` (${String(d.bytes)} bytes)` : ""}`;
  if (ev.type === "job.failed") return `failed: ${String(d.code ?? "")} ${String(d.message ?? ev.message ?? "")}`.trim();
  return ev.message ? `${ev.type.replace(/^job\./, "")}: ${ev.message}` : ev.type.replace(/^job\./, "");
}

export interface EvalFigures {
  dataset: string;
  dense: number;
  sparse: number;
}

/** Dense and sparse perplexity per eval dataset, from a finished job's metrics.eval (the worker's EvalResult list). */
export function evalFigures(metrics: unknown): EvalFigures[] {
  const evals = (metrics as { eval?: unknown } | null | undefined)?.eval;
  if (!Array.isArray(evals)) return [];
  return evals
    .filter((e) => e && typeof e.densePerplexity === "number" && typeof e.sparsePerplexity === "number")
    .map((e) => ({ dataset: String(e.dataset), dense: e.densePerplexity, sparse: e.sparsePerplexity }));
}

export function jobSummary(job: JobView): string[] {
  const lines = [`job ${job.id}  ${jobLabel(job)}`, `  status    ${job.status}${job.stage ? ` (stage ${job.stage})` : ""}  ${Math.round(job.progress * 100)}%`, `  created   ${job.createdAt}`];
  if (job.startedAt && job.finishedAt) lines.push(`  took      ${formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)}`);
  if (job.error) lines.push(`  error     ${job.error.code}: ${job.error.message}`);
  for (const e of evalFigures(job.metrics)) lines.push(`  ppl       ${e.dataset.padEnd(28)} dense ${e.dense.toFixed(3)}  sparse ${e.sparse.toFixed(3)}`);
  const sparsity = (job.metrics as { sparsity?: unknown } | null)?.sparsity;
  if (typeof sparsity === "number") lines.push(`  sparsity  ${(sparsity * 100).toFixed(2)}% of the masked layers' weights are zero`);
  for (const a of job.results) lines.push(`  artifact  ${a.kind.padEnd(12)} ${a.name}`);
  return lines;
}
