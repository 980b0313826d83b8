// The dashboard's pages, routed by the URL hash: #/ (job list), #/new (submit form), #/jobs/<id> (one job,
// live). Everything is read from the public API with the key the user entered once (localStorage).
/* global document, window, Node */
import { api, ApiError, download, forgetKey, getKey, setKey, streamEvents } from "./api.js";
import { lineChart } from "./chart.js";

const $ = (sel, root = document) => root.querySelector(sel);
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

/** h("tag.class", {attrs}, ...children): a tiny element builder; strings become text nodes (never HTML). */
function h(spec, attrs = {}, ...children) {
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

function flash(message, kind = "error") {
  const f = $("#flash");
  f.textContent = message;
  f.className = kind;
  f.hidden = !message;
}

function problemText(err) {
  if (!(err instanceof ApiError)) return String(err.message ?? err);
  const errs = (err.problem.errors ?? []).map((e) => `${e.pointer ?? ""} ${e.detail ?? ""}`.trim());
  const hint = err.status === 401 ? " Enter a valid API key above (create one with `maskforge keys create`)." : "";
  return [err.message + hint, ...errs].join("\n");
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const duration = (s) => (s == null || !Number.isFinite(s) ? "" : s < 60 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`);
const bytes = (n) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`);
const jobName = (j) => j.spec?.metadata?.name || `${j.spec?.method ?? "job"} ${j.spec?.pattern ?? ""}`;
const statusBadge = (j) => h("span.badge", { "data-status": j.status, "data-testid": "job-status" }, j.status === "running" && j.stage ? `${j.status} · ${j.stage}` : j.status);
const progressBar = (j) => h("progress", { max: 1, value: j.status === "succeeded" ? 1 : (j.progress ?? 0), title: `${Math.round((j.progress ?? 0) * 100)}%` });

// ---- key handling

function renderKey() {
  const key = getKey();
  $("#key-form").hidden = Boolean(key);
  $("#key-status").hidden = !key;
  $("#key-prefix").textContent = key ? `key ${key.slice(0, 10)}…` : "";
}

// ---- pages; each returns a cleanup function that stops its timers and streams

let cleanup = () => {};

async function jobsPage(view) {
  let timer;
  let stopped = false;
  const body = h("tbody");
  const more = h("p.muted");
  view.replaceChildren(
    h("div.row", {}, h("h1", {}, "Jobs"), h("a.button", { href: "#/new" }, "Submit a job")),
    h("table.jobs", { "data-testid": "jobs-table" }, h("thead", {}, h("tr", {}, ["Name", "Method", "N:M", "Status", "Progress", "Created", "Id"].map((c) => h("th", {}, c)))), body),
    more,
  );
  const refresh = async () => {
    try {
      const page = await api("GET", "/v1/jobs?limit=50");
      flash("");
      body.replaceChildren(
        ...page.items.map((j) =>
          h("tr", { "data-job-id": j.id }, h("td", {}, h("a", { href: `#/jobs/${j.id}` }, jobName(j))), h("td", {}, j.spec?.method ?? ""), h("td", {}, j.spec?.pattern ?? ""), h("td", {}, statusBadge(j)), h("td", {}, progressBar(j)), h("td", {}, when(j.createdAt)), h("td.mono", {}, j.id.slice(0, 8))),
        ),
      );
      more.textContent = page.items.length === 0 ? "No jobs yet: submit one." : page.nextCursor ? "Showing the 50 newest jobs." : "";
    } catch (err) {
      flash(problemText(err));
    }
    // live status: poll while anything is unfinished, slowly otherwise
    if (!stopped) timer = setTimeout(refresh, document.hidden ? 10_000 : 2000);
  };
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

async function newJobPage(view) {
  const errors = h("ul.errors", { "data-testid": "form-errors" });
  const checkpoint = h("select", { name: "checkpoint", required: true, "data-testid": "form-checkpoint" });
  const form = h(
    "form.job-form",
    { "data-testid": "job-form" },
    h("label", {}, "Checkpoint", checkpoint),
    h("label", {}, "Method", h("select", { name: "method", "data-testid": "form-method" }, ["maskllm", "sparsegpt", "wanda", "magnitude"].map((m) => h("option", { value: m }, m)))),
    h("label", {}, "Pattern (N:M)", h("input", { name: "pattern", value: "2:4", pattern: "\\d{1,2}:\\d{1,2}", required: true })),
    h("fieldset.maskllm", {}, h("legend", {}, "MaskLLM training"), h("label", {}, "Steps", h("input", { name: "steps", type: "number", min: 1, value: 100, "data-testid": "form-steps" })), h("label", {}, "Batch size", h("input", { name: "batch_size", type: "number", min: 1, value: 8 })), h("label", {}, "Prior", h("select", { name: "prior" }, ["sparsegpt", "wanda", "magnitude", "none"].map((m) => h("option", { value: m }, m))))),
    h("fieldset", {}, h("legend", {}, "Calibration"), h("label", {}, "Dataset", h("select", { name: "calibration" }, ["builtin:tinystories", "builtin:wikitext"].map((m) => h("option", { value: m }, m)))), h("label", {}, "Samples", h("input", { name: "samples", type: "number", min: 1, value: 128 })), h("label", {}, "Sequence length", h("input", { name: "seq_len", type: "number", min: 8, value: 256 }))),
    h("fieldset", {}, h("legend", {}, "Evaluate on"), ["builtin:tinystories-heldout", "builtin:wikitext"].map((d, i) => h("label.check", {}, h("input", { type: "checkbox", name: "eval", value: d, checked: i === 0 }), d))),
    h("fieldset", {}, h("legend", {}, "Export"), ["hf_safetensors", "maskllm_npz", "mask_logits"].map((f) => h("label.check", {}, h("input", { type: "checkbox", name: "export", value: f, checked: true }), f))),
    h("label", {}, "Name", h("input", { name: "name", maxlength: 200, placeholder: "optional", "data-testid": "form-name" })),
    errors,
    h("button", { type: "submit", "data-testid": "form-submit" }, "Submit job"),
  );
  const method = form.elements.method;
  const syncMethod = () => {
    $("fieldset.maskllm", form).disabled = method.value !== "maskllm";
    // one-shot methods export no logits
    form.querySelector('input[value="mask_logits"]').disabled = method.value !== "maskllm";
  };
  method.addEventListener("change", syncMethod);
  syncMethod();
  view.replaceChildren(h("h1", {}, "Submit a job"), form);

  try {
    const page = await api("GET", "/v1/checkpoints?limit=100&status=ready");
    checkpoint.replaceChildren(...page.items.map((c) => h("option", { value: c.id }, `${c.architecture ?? "checkpoint"} · ${bytes(c.bytes)} · ${c.id.slice(0, 8)} · ${when(c.createdAt)}`)));
    if (page.items.length === 0) errors.replaceChildren(h("li", {}, "No ready checkpoint: upload one first (maskforge checkpoints upload <dir>)."));
  } catch (err) {
    flash(problemText(err));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errors.replaceChildren();
    const f = form.elements;
    const checked = (name) => [...form.querySelectorAll(`input[name="${name}"]:checked:not(:disabled)`)].map((i) => i.value);
    const spec = {
      source: { checkpoint_id: f.checkpoint.value },
      method: f.method.value,
      pattern: f.pattern.value,
      calibration: { dataset: f.calibration.value, samples: Number(f.samples.value), seq_len: Number(f.seq_len.value) },
      eval: { datasets: checked("eval") },
      export: { formats: checked("export") },
      metadata: f.name.value ? { name: f.name.value, tags: ["dashboard"] } : { tags: ["dashboard"] },
    };
    if (spec.method === "maskllm") {
      spec.prior = f.prior.value;
      spec.training = { steps: Number(f.steps.value), batch_size: Number(f.batch_size.value) };
    }
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      const { job } = await api("POST", "/v1/jobs", spec);
      window.location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      const list = err instanceof ApiError ? err.problem.errors ?? [] : [];
      errors.replaceChildren(h("li", {}, err.message), ...list.map((x) => h("li", {}, `${x.pointer ?? ""} ${x.detail ?? ""}`)));
    } finally {
      button.disabled = false;
    }
  });
  return () => {};
}

const CURVES = [
  { key: "loss", title: "loss", log: true },
  { key: "tau", title: "τ (Gumbel temperature)", log: true },
  { key: "maskChange", title: "mask change (share of groups flipped)" },
];

async function jobPage(view, id) {
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

// ---- router

async function route() {
  cleanup();
  cleanup = () => {};
  flash("");
  renderKey();
  const view = $("#view");
  if (!getKey()) {
    view.replaceChildren(h("h1", {}, "Welcome"), h("p", {}, "Enter your API key (mf_…) above. It stays in this browser (localStorage) and is sent only to this server."));
    return;
  }
  const hash = window.location.hash || "#/";
  const m = /^#\/jobs\/([0-9a-fA-F-]{36})$/.exec(hash);
  const page = m ? jobPage(view, m[1]) : hash === "#/new" ? newJobPage(view) : jobsPage(view);
  cleanup = await page;
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  setKey(e.target.elements.key.value);
  e.target.reset();
  route();
});
$("#key-forget").addEventListener("click", () => {
  forgetKey();
  route();
});
window.addEventListener("hashchange", route);
route();
