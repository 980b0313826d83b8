// Line charts as plain SVG: one series, linear or log y axis, "nice" ticks, and a dot per point when there
// are few. Small on purpose: the dashboard draws loss, τ and mask change, nothing fancier.
/* global document */

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Ticks for a log axis: 1, 2, 5 times powers of ten inside [lo, hi], thinned to at most 6. */
export function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) for (const m of [1, 2, 5]) if (m * 10 ** e >= lo && m * 10 ** e <= hi) out.push(Number((m * 10 ** e).toPrecision(6)));
  // a narrow range (3.2 to 4.1, say) holds no such value: label it linearly instead
  if (out.length < 2) return ticks(lo, hi, 4).filter((t) => t > 0);
  const step = Math.ceil(out.length / 6);
  return out.filter((_, i) => i % step === 0);
}

export const fmt = (v) => (v === 0 ? "0" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2 ? v.toExponential(1) : String(Number(v.toPrecision(3))));

/**
 * An <svg> with the points [{x, y}] as a line. opts: title, xLabel, log (log10 y axis), color.
 * Points with non-finite y (or y <= 0 on a log axis) are left out.
 */
export function lineChart(points, opts = {}) {
  const W = 420;
  const H = 220;
  const m = { l: 52, r: 12, t: 26, b: 34 };
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title ?? "chart" });
  svg.append(el("text", { x: m.l, y: 16, class: "chart-title" }, opts.title ?? ""));
  const log = Boolean(opts.log);
  const pts = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!log || p.y > 0));
  if (pts.length === 0) {
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, "no data yet"));
    return svg;
  }
  const ty = (y) => (log ? Math.log10(y) : y);
  let x0 = Math.min(...pts.map((p) => p.x));
  let x1 = Math.max(...pts.map((p) => p.x));
  let y0 = Math.min(...pts.map((p) => ty(p.y)));
  let y1 = Math.max(...pts.map((p) => ty(p.y)));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    const half = Math.abs(y0) * 0.1 || 1;
    y0 -= half;
    y1 += half;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y) => H - m.b - ((ty(y) - y0) / (y1 - y0)) * (H - m.t - m.b);

  const axes = el("g", { class: "axes" });
  axes.append(el("line", { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b }), el("line", { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b }));
  for (const t of ticks(x0, x1)) {
    axes.append(el("line", { x1: sx(t), y1: H - m.b, x2: sx(t), y2: H - m.b + 4 }));
    axes.append(el("text", { x: sx(t), y: H - m.b + 15, "text-anchor": "middle" }, fmt(t)));
  }
  for (const v of log ? logTicks(10 ** y0, 10 ** y1) : ticks(y0, y1, 4)) {
    axes.append(el("line", { x1: m.l, y1: sy(v), x2: W - m.r, y2: sy(v), class: "grid" }));
    axes.append(el("text", { x: m.l - 6, y: sy(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  if (opts.xLabel) axes.append(el("text", { x: W - m.r, y: H - 4, "text-anchor": "end", class: "chart-label" }, opts.xLabel));
  svg.append(axes);

  const d = pts.map((p, i) => `${i ? "L" : "M"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join("");
  svg.append(el("path", { d, class: "series", stroke: opts.color ?? "#2563eb" }));
  if (pts.length <= 40) for (const p of pts) svg.append(el("circle", { cx: sx(p.x), cy: sy(p.y), r: 2.2, fill: opts.color ?? "#2563eb" }));
  const last = pts[pts.length - 1];
  svg.append(el("text", { x: W - m.r, y: 16, "text-anchor": "end", class: "chart-last" }, `last ${fmt(last.y)}`));
  return svg;
}
