// What every page draws with: a tiny element builder, the flash line, an API problem as text, times, durations
// and sizes as people read them, and a job's name, status badge and progress bar.
/* global document, Node */
import { ApiError } from "./api.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const FINAL = new Set(["succeeded", "failed", "cancelled"]);

/** h("tag.class", {attrs}, ...children): a tiny element builder; strings become text nodes (never HTML). */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const e = document.createElement(tag);
  if (classes.length) e.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

export function flash(message, kind = "error") {
  const f = $("#flash");
  f.textContent = message;
  f.className = kind;
  f.hidden = !message;
}

export function problemText(err) {
  if (!(err instanceof ApiError)) return String(err.message ?? err);
  const errs = (err.problem.errors ?? []).map((e) => `${e.pointer ?? ""} ${e.detail ?? ""}`.trim());
  const hint = err.status === 401 ? " Enter a valid API key above (create one with `maskforge keys create`)." : "";
  return [err.message + hint, ...errs].join("\n");
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
export const duration = (s) => (s == null || !Number.isFinite(s) ? "" : s < 60 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`);
export const bytes = (n) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`);
export const jobName = (j) => j.spec?.metadata?.name || `${j.spec?.method ?? "job"} ${j.spec?.pattern ?? ""}`;
export const statusBadge = (j) => h("span.badge", { "data-status": j.status, "data-testid": "job-status" }, j.status === "running" && j.stage ? `${j.status} · ${j.stage}` : j.status);
export const progressBar = (j) => h("progress", { max: 1, value: j.status === "succeeded" ? 1 : (j.progress ?? 0), title: `${Math.round((j.progress ?? 0) * 100)}%` });
