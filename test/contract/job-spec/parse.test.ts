// parseJobSpec, table-driven: every bad body names the offending field (JSON Pointer) with a message that
// says what to send instead; good bodies come back with the paper's defaults filled in.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Value } from "typebox/value";
import { parseDatasetRef } from "../../../src/contract/datasets.js";
import { JobSpecExamples } from "../../../src/contract/job-spec/examples.js";
import { assertJobSpec, parseJobSpec } from "../../../src/contract/job-spec/parse.js";
import { JobSpecSchema } from "../../../src/contract/job-spec/schema.js";
import { hubSourceFromUrl, normalizeSource, redactSpec, sourceUrlKind } from "../../../src/contract/job-spec/source.js";
import { parsePattern } from "../../../src/maskllm/mask/nm.js";

const CKPT = "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90";
const MASK = "9b1d4f6a-2c3e-4a5b-8d7f-0e1f2a3b4c5d";
const base = { source: { checkpoint_id: CKPT } };

const bad: [string, unknown, string, RegExp][] = [
  ["body not an object", [base], "", /JSON object/],
  ["body null", null, "", /JSON object/],
  ["source missing", { method: "maskllm" }, "/source", /required/],
  ["unknown top-level field", { ...base, trainig: { steps: 5 } }, "/trainig", /unknown field; allowed: .*training/],
  ["unknown field in url source", { source: { url: "https://x.org/m.tar", sha: "1" } }, "/source/sha", /unknown field; allowed: url/],
  ["unknown field in hf source", { source: { hf: { repo: "a/b", branch: "main" } } }, "/source/hf/branch", /allowed: repo, revision, token/],
  ["two sources at once", { source: { url: "https://x.org/m.tar", checkpoint_id: CKPT } }, "/source/checkpoint_id", /unknown field/],
  ["empty source", { source: {} }, "/source", /exactly one of/],
  ["source a string", { source: "https://x.org/m.tar" }, "/source", /exactly one of/],
  ["http url", { source: { url: "http://x.org/m.tar" } }, "/source/url", /https URL/],
  ["ftp url", { source: { url: "ftp://x.org/m.tar" } }, "/source/url", /https URL/],
  ["malformed https url", { source: { url: "https://exa mple.org/m.tar" } }, "/source/url", /does not parse/],
  ["url with credentials", { source: { url: "https://user:pw@x.org/m.tar" } }, "/source/url", /credentials/],
  ["Hub dataset page", { source: { url: "https://huggingface.co/datasets/roneneldan/TinyStories" } }, "/source/url", /names no model repo/],
  ["bad checkpoint uuid", { source: { checkpoint_id: "abc" } }, "/source/checkpoint_id", /uuid/],
  ["bad hf repo", { source: { hf: { repo: "a/b/c" } } }, "/source/hf/repo", /Hub repo id/],
  ["hf revision with ..", { source: { hf: { repo: "a/b", revision: "main/../x" } } }, "/source/hf/revision", /\.\./],
  ["unknown method", { ...base, method: "obs" }, "/method", /one of "maskllm", "sparsegpt", "wanda", "magnitude"/],
  ["N equals M", { ...base, pattern: "4:4" }, "/pattern", /N must be smaller than M/],
  ["N greater than M", { ...base, pattern: "8:4" }, "/pattern", /N must be smaller than M/],
  ["M above 16", { ...base, pattern: "2:32" }, "/pattern", /1 <= N < M <= 16/],
  ["N zero", { ...base, pattern: "0:4" }, "/pattern", /1 <= N < M <= 16/],
  ["pattern not N:M", { ...base, pattern: "50%" }, "/pattern", /"N:M"/],
  ["unknown prior", { ...base, prior: "obs" }, "/prior", /"sparsegpt", .*"none" or \{"mask_id"/],
  ["prior mask id not uuid", { ...base, prior: { mask_id: "m1" } }, "/prior/mask_id", /uuid/],
  ["unknown field in prior", { ...base, prior: { mask_id: MASK, strength: 3 } }, "/prior/strength", /allowed: mask_id/],
  ["prior with a one-shot method", { ...base, method: "wanda", prior: "sparsegpt" }, "/prior", /only to method "maskllm"/],
  ["training with a one-shot method", { ...base, method: "magnitude", training: { steps: 10 } }, "/training", /only to method "maskllm"/],
  ["negative steps", { ...base, training: { steps: -5 } }, "/training/steps", />= 1/],
  ["fractional steps", { ...base, training: { steps: 2.5 } }, "/training/steps", /integer/],
  ["too many steps", { ...base, training: { steps: 100_001 } }, "/training/steps", /<= 100000/],
  ["batch too large", { ...base, training: { batch_size: 4096 } }, "/training/batch_size", /<= 1024/],
  ["no micro-batches", { ...base, training: { micro_batches: 0 } }, "/training/micro_batches", />= 1/],
  ["zero lr", { ...base, training: { lr: 0 } }, "/training/lr", /> 0/],
  ["lr_min above lr", { ...base, training: { lr: 1e-4, lr_min: 1e-3 } }, "/training/lr_min", /must not exceed training.lr/],
  ["zero temperature", { ...base, training: { tau: { start: 0 } } }, "/training/tau/start", /> 0/],
  ["unknown field in kappa", { ...base, training: { kappa: { start: 100, stop: 500 } } }, "/training/kappa/stop", /allowed: start, end/],
  ["unknown training field", { ...base, training: { epochs: 3 } }, "/training/epochs", /unknown field/],
  ["hard not boolean", { ...base, training: { hard: "yes" } }, "/training/hard", /boolean/],
  ["empty targets", { ...base, targets: [] }, "/targets", /must list at least 1 item$/],
  ["target with a space", { ...base, targets: ["q proj"] }, "/targets/0", /glob/],
  ["unknown calibration dataset", { ...base, calibration: { dataset: "builtin:c4" } }, "/calibration/dataset", /builtin:tinystories, builtin:wikitext, file:<uuid>, an https URL or \{"hf_dataset"/],
  ["calibration file id not uuid", { ...base, calibration: { dataset: "file:123" } }, "/calibration/dataset", /file:<uuid>/],
  ["calibration http url", { ...base, calibration: { dataset: "http://x.org/a.txt" } }, "/calibration/dataset", /https URL/],
  ["format contradicting builtin", { ...base, calibration: { dataset: "builtin:wikitext", format: "stories" } }, "/calibration/format", /"wikitext" format/],
  ["samples zero", { ...base, calibration: { samples: 0 } }, "/calibration/samples", />= 1/],
  ["samples too many", { ...base, calibration: { samples: 100_001 } }, "/calibration/samples", /<= 100000/],
  ["seq_len too long", { ...base, calibration: { seq_len: 65_536 } }, "/calibration/seq_len", /<= 32768/],
  ["eval dataset unknown", { ...base, eval: { datasets: ["builtin:c4"] } }, "/eval/datasets/0", /builtin:tinystories-heldout, builtin:wikitext, file:<uuid>, an https URL/],
  // datasets as users have them (issue 14): formats, fields, {hf_dataset} and the eval object form
  ["unknown calibration format", { ...base, calibration: { format: "csv" } }, "/calibration/format", /must be one of "auto", "text", "stories", "wikitext", "jsonl", "parquet"/],
  ["field with a space", { ...base, calibration: { dataset: "file:3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f91", format: "jsonl", field: "my text" } }, "/calibration/field", /must be a JSONL key or Parquet column name/],
  ["field of a builtin", { ...base, calibration: { dataset: "builtin:tinystories", field: "text" } }, "/calibration/field", /plain text and has no fields/],
  ["hf_dataset without repo", { ...base, calibration: { dataset: { hf_dataset: { split: "train" } } } }, "/calibration/dataset/hf_dataset/repo", /is required/],
  ["hf_dataset bad repo", { ...base, calibration: { dataset: { hf_dataset: { repo: "a/b/c" } } } }, "/calibration/dataset/hf_dataset/repo", /Hub repo id/],
  ["hf_dataset unknown key", { ...base, calibration: { dataset: { hf_dataset: { repo: "a/b", subset: "x" } } } }, "/calibration/dataset/hf_dataset/subset", /unknown field; allowed: repo, revision, files, split, token/],
  ["hf_dataset empty files", { ...base, calibration: { dataset: { hf_dataset: { repo: "a/b", files: [] } } } }, "/calibration/dataset/hf_dataset/files", /at least 1 item/],
  ["hf_dataset revision ..", { ...base, calibration: { dataset: { hf_dataset: { repo: "a/b", revision: "../x" } } } }, "/calibration/dataset/hf_dataset/revision", /".."/],
  ["hf_dataset in eval, bad split", { ...base, eval: { datasets: [{ hf_dataset: { repo: "a/b", split: "tr ain" } }] } }, "/eval/datasets/0/hf_dataset/split", /must be a split name/],
  ["eval object form, bad format", { ...base, eval: { datasets: [{ dataset: "builtin:wikitext", format: "xml" }] } }, "/eval/datasets/0/format", /must be one of "auto"/],
  ["eval object form, builtin's format contradicted", { ...base, eval: { datasets: [{ dataset: "builtin:wikitext", format: "jsonl" }] } }, "/eval/datasets/0/format", /"wikitext" format/],
  ["eval object form, unknown dataset", { ...base, eval: { datasets: [{ dataset: "builtin:c4" }] } }, "/eval/datasets/0/dataset", /builtin:tinystories-heldout/],
  ["eval object form, unknown key", { ...base, eval: { datasets: [{ dataset: "builtin:wikitext", column: "x" }] } }, "/eval/datasets/0/column", /unknown field; allowed: dataset, format, field/],
  ["eval http url", { ...base, eval: { datasets: ["http://x.org/a.jsonl"] } }, "/eval/datasets/0", /https URL/],
  ["calibrating and evaluating on the wikitext test split", { ...base, calibration: { dataset: "builtin:wikitext" }, eval: { datasets: ["builtin:wikitext"] } }, "/eval/datasets", /Wikitext-2 test split/],
  ["eval dataset repeated", { ...base, eval: { datasets: ["builtin:wikitext", "builtin:wikitext"] } }, "/eval/datasets", /repeat/],
  ["unknown export format", { ...base, export: { formats: ["gguf"] } }, "/export/formats/0", /"hf_safetensors", "maskllm_npz", "mask_logits"/],
  ["empty export formats", { ...base, export: { formats: [] } }, "/export/formats", /at least 1 item/],
  ["webhook http", { ...base, webhook: { url: "http://hooks.example.org/x" } }, "/webhook/url", /https URL/],
  ["webhook url missing", { ...base, webhook: { events: ["job.failed"] } }, "/webhook/url", /required/],
  ["webhook chatty event", { ...base, webhook: { url: "https://hooks.example.org/x", events: ["job.metrics"] } }, "/webhook/events/0", /one of "job.started"/],
  ["metadata unknown field", { ...base, metadata: { owner: "me" } }, "/metadata/owner", /allowed: name, tags/],
  ["too many tags", { ...base, metadata: { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) } }, "/metadata/tags", /at most 32 items/],
  ["metadata bad tag", { ...base, metadata: { tags: ["has space"] } }, "/metadata/tags/0", /1-64 characters/],
];

describe("parseJobSpec rejects bad input with a path and a clear message", () => {
  for (const [name, body, path, message] of bad) {
    it(name, () => {
      const r = parseJobSpec(body);
      assert.equal(r.ok, false, `${name}: accepted ${JSON.stringify(body)}`);
      if (r.ok) return;
      const hit = r.errors.find((e) => e.path === path);
      assert.ok(hit, `${name}: no error at ${JSON.stringify(path)}; got ${JSON.stringify(r.errors)}`);
      assert.match(hit.message, message);
      assert.ok(r.errors.every((e) => !/schema is false|anyOf|must match pattern/.test(e.message)), `raw validator text leaked: ${JSON.stringify(r.errors)}`);
    });
  }

  it("reports problems in several fields at once", () => {
    const r = parseJobSpec({ source: { checkpoint_id: "x" }, method: "nope", training: { steps: 0 }, zzz: 1 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(new Set(r.errors.map((e) => e.path)), new Set(["/zzz", "/source/checkpoint_id", "/method", "/training/steps"]));
  });

  it("does not modify the body it was given", () => {
    const body = { source: { checkpoint_id: CKPT }, training: { steps: 5 } };
    const copy = structuredClone(body);
    parseJobSpec(body);
    assert.deepEqual(body, copy);
  });
});

describe("parseJobSpec fills in the defaults", () => {
  it("takes the paper's recipe for a bare MaskLLM job", () => {
    const r = parseJobSpec(base);
    assert.ok(r.ok);
    assert.deepEqual(r.spec, {
      source: { checkpoint_id: CKPT },
      method: "maskllm",
      pattern: "2:4",
      prior: "sparsegpt",
      targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      ignore: ["lm_head", "embed_tokens"],
      calibration: { dataset: "builtin:tinystories", format: "stories", samples: 128, seq_len: 256 },
      training: {
        steps: 2000,
        batch_size: 8,
        micro_batches: 2,
        lr: 5e-4,
        lr_min: 5e-5,
        tau: { start: 4, end: 0.05 },
        kappa: { start: 100, end: 500 },
        prior_strength: 3,
        reg_lambda: 1e-5,
        weight_decay: 0.1,
        grad_clip: 1,
        hard: false,
        seed: 0,
        snapshot_every: 100,
      },
      eval: { datasets: ["builtin:tinystories-heldout"], seq_len: 256 },
      export: { formats: ["hf_safetensors", "maskllm_npz", "mask_logits"] },
      metadata: { tags: [] },
    });
  });

  it("keeps partial nested objects and fills their other fields", () => {
    const r = parseJobSpec({ ...base, training: { steps: 50, tau: { end: 0.1 } }, calibration: { dataset: "builtin:wikitext", seq_len: 512 } });
    assert.ok(r.ok && r.spec.method === "maskllm");
    assert.equal(r.spec.training.steps, 50);
    assert.deepEqual(r.spec.training.tau, { start: 4, end: 0.1 });
    assert.equal(r.spec.training.kappa.end, 500);
    assert.equal(r.spec.calibration.format, "wikitext");
    assert.equal(r.spec.eval.seq_len, 512, "eval windows follow calibration.seq_len");
  });

  it("gives a one-shot job neither prior nor training", () => {
    const r = parseJobSpec({ ...base, method: "sparsegpt", pattern: "4:8" });
    assert.ok(r.ok);
    assert.equal(r.spec.method, "sparsegpt");
    assert.equal("prior" in r.spec, false);
    assert.equal("training" in r.spec, false);
    assert.equal(r.spec.pattern, "4:8");
  });

  it("accepts a transfer prior, a webhook with default events, uploaded files and N:M up to 15:16", () => {
    const file = "0f1e2d3c-4b5a-4697-8877-66554433aabb";
    const r = parseJobSpec({
      ...base,
      pattern: "15:16",
      prior: { mask_id: MASK },
      calibration: { dataset: `file:${file.toUpperCase()}` },
      eval: { datasets: [`file:${file}`, "builtin:wikitext"], seq_len: 1024 },
      webhook: { url: "https://hooks.example.org/maskforge" },
      metadata: { name: "domain transfer", tags: ["transfer", "v1"] },
    });
    assert.ok(r.ok && r.spec.method === "maskllm");
    assert.deepEqual(r.spec.prior, { mask_id: MASK });
    assert.equal(r.spec.calibration.dataset, `file:${file}`, "file ids are lower-cased");
    assert.equal(r.spec.calibration.format, "auto", "an uploaded file's format is read from it (name, PAR1, separators)");
    assert.deepEqual(r.spec.webhook, { url: "https://hooks.example.org/maskforge", events: ["job.succeeded", "job.failed", "job.cancelled"] });
    assert.equal(r.spec.eval.seq_len, 1024);
  });

  it("accepts datasets as users have them: formats, fields, {hf_dataset} and {dataset, format, field}, old forms unchanged", () => {
    const FILE = "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f91";
    const r = parseJobSpec({
      ...base,
      calibration: { dataset: { hf_dataset: { repo: "HuggingFaceH4/ultrachat_200k", files: ["data/train_sft-*.parquet"], token: "hf_x" } }, format: "parquet", field: "messages" },
      eval: { datasets: ["builtin:wikitext", `file:${FILE.toUpperCase()}`, { dataset: `file:${FILE}`, format: "jsonl", field: "body" }, { hf_dataset: { repo: "roneneldan/TinyStories", split: "validation" } }] },
    });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.spec.calibration.dataset, { hf_dataset: { repo: "HuggingFaceH4/ultrachat_200k", revision: "main", files: ["data/train_sft-*.parquet"], token: "hf_x" } });
    assert.equal(r.spec.calibration.format, "parquet");
    assert.deepEqual(r.spec.eval.datasets, ["builtin:wikitext", `file:${FILE}`, { dataset: `file:${FILE}`, format: "jsonl", field: "body" }, { hf_dataset: { repo: "roneneldan/TinyStories", revision: "main", split: "validation" } }]);
    assert.ok(Value.Check(JobSpecSchema, r.spec));
    assert.deepEqual(parseJobSpec(r.spec), r, "parsing is idempotent");
    // the tokens are secrets wherever the spec is shown or exported
    const shown = JSON.stringify(redactSpec(r.spec));
    assert.ok(!shown.includes("hf_x") && shown.includes("[redacted]"), shown);
    // a spec of before keeps its meaning: builtins their own format, strings as they were
    const old = parseJobSpec({ ...base, calibration: { dataset: "builtin:wikitext" }, eval: { datasets: ["builtin:tinystories-heldout"] } });
    assert.ok(old.ok);
    assert.equal(old.spec.calibration.format, "wikitext");
    assert.deepEqual(old.spec.eval.datasets, ["builtin:tinystories-heldout"]);
  });

  it("reads a Hub page URL as the hf source", () => {
    const r = parseJobSpec({ source: { url: "https://huggingface.co/meta-llama/Llama-2-7b-hf/tree/refs%2Fpr%2F3" }, method: "magnitude" });
    assert.ok(r.ok);
    assert.deepEqual(r.spec.source, { hf: { repo: "meta-llama/Llama-2-7b-hf", revision: "refs/pr/3" } });
  });

  it("returns a spec that validates against the published schema", () => {
    for (const body of [base, { ...base, method: "wanda" }, ...Object.values(JobSpecExamples).map((e) => e.value)]) {
      const r = parseJobSpec(body);
      assert.ok(r.ok, JSON.stringify(body));
      assert.ok(Value.Check(JobSpecSchema, r.spec));
      assert.deepEqual(parseJobSpec(r.spec), r, "parsing is idempotent");
    }
  });
});

describe("JobSpecSchema as a route schema", () => {
  it("puts no default inside a union, which ajv's strict mode (Fastify's validator) refuses to compile", () => {
    const offending: string[] = [];
    const walk = (node: unknown, path: string, inUnion: boolean) => {
      if (node === null || typeof node !== "object") return;
      if (inUnion && "default" in node) offending.push(path);
      for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`, inUnion || k === "anyOf");
    };
    walk(JSON.parse(JSON.stringify(JobSpecSchema)), "#", false);
    assert.deepEqual(offending, []);
  });
});

describe("source helpers", () => {
  it("normalises Hub URLs and leaves other URLs alone", () => {
    assert.deepEqual(normalizeSource({ url: "https://huggingface.co/gpt2" }), { hf: { repo: "gpt2", revision: "main" } });
    assert.deepEqual(normalizeSource({ url: "https://hf.co/a/b/resolve/v2/" }), { hf: { repo: "a/b", revision: "v2" } });
    assert.deepEqual(normalizeSource({ url: "https://cdn.example.org/a/b.tar.gz" }), { url: "https://cdn.example.org/a/b.tar.gz" });
    assert.deepEqual(normalizeSource({ hf: { repo: "a/b" } }), { hf: { repo: "a/b", revision: "main" } });
    assert.deepEqual(normalizeSource({ checkpoint_id: CKPT.toUpperCase() }), { checkpoint_id: CKPT });
    assert.equal(hubSourceFromUrl("https://example.org/a/b"), null);
    assert.match(String(hubSourceFromUrl("https://huggingface.co/a/b/blob/main/config.json")), /names no model repo/);
  });

  it("tells archives from base URLs", () => {
    assert.equal(sourceUrlKind("https://x.org/m.tar"), "tar");
    assert.equal(sourceUrlKind("https://x.org/m.TAR.GZ?sig=1"), "tar.gz");
    assert.equal(sourceUrlKind("https://x.org/m.tgz"), "tar.gz");
    assert.equal(sourceUrlKind("https://x.org/models/m/"), "base");
  });

  it("splits dataset references and N:M patterns", () => {
    assert.deepEqual(parseDatasetRef("builtin:wikitext"), { kind: "builtin", name: "wikitext" });
    assert.deepEqual(parseDatasetRef(`file:${CKPT}`), { kind: "file", id: CKPT });
    assert.deepEqual(parseDatasetRef("https://x.org/a.txt"), { kind: "url", url: "https://x.org/a.txt" });
    assert.deepEqual(parsePattern("2:4"), { n: 2, m: 4 });
    assert.throws(() => parsePattern("4:2"), RangeError);
    assert.throws(() => parsePattern("1:17"), RangeError);
  });

  it("redacts the Hub token for display only", () => {
    const r = parseJobSpec({ source: { hf: { repo: "a/b", token: "hf_abc" } } });
    assert.ok(r.ok);
    assert.deepEqual(redactSpec(r.spec).source, { hf: { repo: "a/b", revision: "main", token: "[redacted]" } });
    assert.deepEqual(r.spec.source, { hf: { repo: "a/b", revision: "main", token: "hf_abc" } });
  });

  it("assertJobSpec throws a non-retried InvalidJobError", () => {
    assert.throws(() => assertJobSpec({ source: {} }), (e: Error & { kind?: string; code?: string }) => e.kind === "InvalidJobError" && e.code === "invalid_spec" && e.name === "UnrecoverableError");
  });
});
