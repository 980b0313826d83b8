// How jobs read in a terminal: one-line summaries, the text after a progress bar, and the perplexities
// pulled out of a job's metrics wherever the pipeline nests them.
import type { JobEvent, JobView } from "./types.js";
import { formatDuration } from "./progress.js";

export function jobLabel(job: JobView): string {
  const spec = job.spec ?? {};
  return spec.metadata?.name ?? `${spec.method ?? "job"} ${spec.pattern ?? ""}`.trim();
}

const num = (v: unknown, digits = 4) => (typeof v === "number" && Number.isFinite(v) ? (Math.abs(v) >= 1000 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(digits)) : undefined);

/** The text after a job's bar: status or stage, then the latest training figures and the ETA. */
export function progressInfo(job: JobView, latest?: Record<string, unknown>): string {
  const parts: string[] = [job.status === "running" ? (job.stage ?? "starting") : job.status];
  if (job.status === "running" && latest) {
    if (typeof latest.step === "number") parts.push(`step ${latest.step}${typeof latest.steps === "number" ? `/${latest.steps}` : ""}`);
    for (const [k, label] of [["loss", "loss"], ["tau", "τ"], ["kappa", "κ"]] as const) {
      const v = num(latest[k]);
      if (v !== undefined) parts.push(`${label} ${v}`);
    }
  }
  if (job.status === "running" && typeof job.etaSeconds === "number") parts.push(`eta ${formatDuration(job.etaSeconds)}`);
  if (job.status === "failed" && job.error?.message) parts.push(`${job.error.code ?? ""}: ${job.error.message}`);
  return parts.join(" ");
}

/** Figures of a job.metrics event, if it is one. */
export function metricsOf(ev: JobEvent): Record<string, unknown> | undefined {
  return ev.type === "job.metrics" && ev.data && typeof ev.data === "object" ? (ev.data as Record<string, unknown>) : undefined;
}

/** A line for an event worth showing a human (stage changes, logs, artifacts, the end); undefined otherwise. */
export function eventLine(ev: JobEvent): string | undefined {
  if (ev.type === "job.metrics" || ev.type === "job.snapshot") return undefined;
  const d = (ev.data ?? {}) as Record<string, unknown>;
  if (ev.type === "job.stage") return `stage ${String(d.stage)}`;
  if (ev.type === "job.artifact") return `artifact ${String(d.name ?? d.kind)}${d.bytes !== undefined ? ` (${String(d.bytes)} bytes)` : ""}`;
  if (ev.type === "job.failed") return `failed: ${String(d.code ?? "")} ${String(d.message ?? ev.message ?? "")}`.trim();
  return ev.message ? `${ev.type.replace(/^job\./, "")}: ${ev.message}` : ev.type.replace(/^job\./, "");
}

export interface Perplexity {
  /** dataset the figure was measured on */
  dataset: string;
  /** "dense" or "sparse" */
  model: string;
  value: number;
}

/**
 * Every perplexity in a metrics object: keys containing "ppl" or "perplexity", nested or flat, with the
 * dataset and dense/sparse read from the path (e.g. eval["builtin:wikitext"].dense_ppl).
 */
export function perplexities(metrics: unknown): Perplexity[] {
  const out: Perplexity[] = [];
  const walk = (v: unknown, path: string[]) => {
    if (typeof v === "number" && path.some((p) => /ppl|perplexity/i.test(p))) {
      const model = path.some((p) => /dense|base|before/i.test(p)) ? "dense" : "sparse";
      const dataset = path.find((p) => /builtin:|file:|tinystories|wikitext/i.test(p)) ?? "";
      out.push({ dataset, model, value: v });
      return;
    }
    if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
  };
  walk(metrics, []);
  return out;
}

export function jobSummary(job: JobView): string[] {
  const lines = [`job ${job.id}  ${jobLabel(job)}`, `  status    ${job.status}${job.stage ? ` (stage ${job.stage})` : ""}${typeof job.progress === "number" ? `  ${Math.round(job.progress * 100)}%` : ""}`];
  if (job.createdAt) lines.push(`  created   ${job.createdAt}`);
  if (job.startedAt && job.finishedAt) lines.push(`  took      ${formatDuration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)}`);
  if (job.error) lines.push(`  error     ${job.error.code ?? ""}: ${job.error.message ?? ""}`);
  for (const p of perplexities(job.metrics)) lines.push(`  ppl       ${p.model.padEnd(6)} ${p.dataset.padEnd(28)} ${p.value.toFixed(3)}`);
  return lines;
}
