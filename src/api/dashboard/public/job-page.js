// #/jobs/<id> : one job, live: its events over SSE (a poll keeps progress moving), training curves, and once
// finished its perplexities, downloads and per-layer sparsity.
import { api, ApiError, download, streamEvents } from "./api.js";
import { lineChart } from "./chart.js";
import { bytes, duration, FINAL, flash, h, jobName, problemText, progressBar, statusBadge, when } from "./ui.js";

const CURVES = [
  { key: "loss", title: "loss", log: true },
  { key: "tau", title: "τ (Gumbel temperature)", log: true },
  { key: "maskChange", title: "mask change (share of groups flipped)" },
];

export async function jobPage(view, id) {
  const ac = new AbortController();
  let timer;
  let metricsTimer;
  let lastSeq = 0;
  let job;
  let report; // sparsity.json of a finished job
  const header = h("section.job-head");
  const charts = h("section.charts", { "data-testid": "charts" });
  const results = h("section.results");
  const log = h("ol.events", { "data-testid": "events" });
  view.replaceChildren(header, charts, results, h("section", {}, h("h2", {}, "Events"), log));

  const renderHead = () => {
    const cancel = !FINAL.has(job.status) && h("button.danger", { "data-testid": "cancel", onclick: async () => {
      try {
        await api("POST", `/v1/jobs/${id}/cancel`);
        await refreshJob();
      } catch (err) {
        flash(problemText(err));
      }
    } }, job.cancelRequested ? "Cancel requested…" : "Cancel");
    if (cancel && job.cancelRequested) cancel.disabled = true;
    const took = job.startedAt && job.finishedAt ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000 : null;
    header.replaceChildren(
      h("div.row", {}, h("h1", {}, jobName(job)), statusBadge(job), cancel),
      h("div.row", {}, progressBar(job), h("span.muted", {}, `${Math.round((job.progress ?? 0) * 100)}%`, job.status === "running" && job.stage === "training" && job.etaSeconds >= 1 ? ` · training: about ${duration(job.etaSeconds)} left` : "", job.queuePosition != null ? ` · ${job.queuePosition} ahead in the queue` : "", took != null ? ` · took ${duration(took)}` : "")),
      h("p.mono.muted", {}, `${job.id} · ${job.spec?.method} ${job.spec?.pattern} · created ${when(job.createdAt)}`),
      job.error ? h("p.error", { "data-testid": "job-error" }, `${job.error.code ?? "error"}: ${job.error.message ?? ""}`) : "",
    );
  };

  const renderResults = () => {
    const parts = [];
    const evals = Array.isArray(job.metrics?.eval) ? job.metrics.eval : [];
    if (evals.length)
      parts.push(
        h("h2", {}, "Perplexity"),
        h("table.ppl", { "data-testid": "perplexity" }, h("thead", {}, h("tr", {}, ["Dataset", "Dense", "Sparse", "Change"].map((c) => h("th", {}, c)))), h("tbody", {}, evals.map((e) => h("tr", {}, h("td", {}, e.dataset), h("td.num", {}, e.densePerplexity.toFixed(3)), h("td.num", {}, e.sparsePerplexity.toFixed(3)), h("td.num", {}, `${e.sparsePerplexity >= e.densePerplexity ? "+" : ""}${(((e.sparsePerplexity - e.densePerplexity) / e.densePerplexity) * 100).toFixed(1)}%`))))),
      );
    if (job.results?.length)
      parts.push(
        h("h2", {}, "Downloads"),
        h("div.downloads", { "data-testid": "downloads" }, job.results.map((a) => h("button.secondary", { title: a.sha256, "data-kind": a.kind, onclick: () => download(a.downloadUrl, a.name).catch((err) => flash(problemText(err))) }, `${a.name} (${bytes(a.bytes)})`))),
      );
    const layers = report?.layers;
    if (Array.isArray(layers) && layers.length)
      parts.push(
        h("h2", {}, "Per-layer sparsity", typeof report.sparsity === "number" ? h("span.muted", {}, ` · overall ${(report.sparsity * 100).toFixed(2)}%`) : ""),
        h("table.layers", { "data-testid": "layers" }, h("thead", {}, h("tr", {}, ["Layer", "Shape", "Sparsity", "N:M verified"].map((c) => h("th", {}, c)))), h("tbody", {}, layers.map((l) => h("tr", {}, h("td.mono", {}, l.name), h("td.num", {}, l.shape.join("×")), h("td.num", {}, `${(l.sparsity * 100).toFixed(2)}%`), h("td", {}, l.nmVerified ? "yes" : "NO"))))),
      );
    results.replaceChildren(...parts);
  };

  const refreshMetrics = async () => {
    try {
      const m = await api("GET", `/v1/jobs/${id}/metrics`);
      const series = (key) => m.points.filter((p) => p.step != null && key in p.values).map((p) => ({ x: p.step, y: p.values[key] }));
      const present = CURVES.filter((c) => m.series.includes(c.key));
      charts.replaceChildren(...(present.length ? [h("h2", {}, "Training"), h("div.chart-row", {}, present.map((c) => lineChart(series(c.key), { title: c.title, log: c.log, xLabel: "step" })))] : []));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) flash(problemText(err));
    }
  };
  const scheduleMetrics = () => {
    if (metricsTimer) return;
    metricsTimer = setTimeout(async () => {
      await refreshMetrics();
      metricsTimer = undefined;
    }, 1000);
  };

  let finalMetrics = false;
  const refreshJob = async () => {
    job = await api("GET", `/v1/jobs/${id}`);
    renderHead();
    // the last metrics events may have landed after the last debounced refresh: draw the curves complete
    if (FINAL.has(job.status) && !finalMetrics) {
      finalMetrics = true;
      await refreshMetrics();
    }
    if (job.status === "succeeded" && !report) {
      const r = job.results?.find((a) => a.kind === "report");
      if (r) report = await api("GET", r.downloadUrl).catch(() => null);
    }
    renderResults();
  };

  const addEvent = (ev) => {
    if (ev.seq <= lastSeq) return;
    lastSeq = ev.seq;
    if (ev.type === "job.metrics") return scheduleMetrics();
    log.append(h("li", { "data-type": ev.type, "data-level": ev.level }, h("time", {}, new Date(ev.createdAt).toLocaleTimeString()), ` ${ev.type.replace(/^job\./, "")}`, ev.message ? `: ${ev.message}` : ev.data?.stage ? `: ${ev.data.stage}` : ""));
    if (ev.type !== "job.log") refreshJob().catch((err) => flash(problemText(err)));
  };

  try {
    await refreshJob();
  } catch (err) {
    view.replaceChildren(h("h1", {}, "Job not available"), h("p.error", {}, problemText(err)), h("a", { href: "#/" }, "Back to the jobs"));
    return () => {};
  }
  await refreshMetrics();
  // the stream drives the page; a poll keeps progress moving (progress is not an event) and covers a broken stream
  const follow = async () => {
    for (let failures = 0; !ac.signal.aborted && failures < 5; ) {
      try {
        await streamEvents(id, { lastSeq, onEvent: addEvent, signal: ac.signal });
        if (FINAL.has(job.status)) return;
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, 1000 * 2 ** failures));
    }
  };
  follow();
  timer = setInterval(() => {
    if (job && !FINAL.has(job.status)) refreshJob().then(scheduleMetrics, (err) => flash(problemText(err)));
  }, 2000);
  return () => {
    ac.abort();
    clearInterval(timer);
    clearTimeout(metricsTimer);
  };
}
