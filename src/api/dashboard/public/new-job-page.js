// #/new : the submit form, a MaskLLM or one-shot job on a ready checkpoint; the API's field errors are listed
// under it.
/* global window */
import { api, ApiError } from "./api.js";
import { $, bytes, flash, h, problemText, when } from "./ui.js";

export async function newJobPage(view) {
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
