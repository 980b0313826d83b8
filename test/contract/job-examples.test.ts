// Every example in jobs/ is a valid job spec, and the only ids in them are the all-zero slots that
// jobs/README.md says the demo fills in (the checkpoint and mask ids come from earlier uploads and jobs).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseJobSpec } from "../../src/contract/job-spec/parse.js";

const dir = join(import.meta.dirname, "../../jobs");
const SLOT = "00000000-0000-0000-0000-000000000000";
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

/** What the demo does before submitting: put real ids into the slots. */
function fillSlots(body: Record<string, any>, checkpointId: string, maskId: string, fileId = "5c7e2a10-8d3b-4f6e-9a1c-2b4d6e8f0a13") {
  const out = structuredClone(body);
  if (out.source?.checkpoint_id === SLOT) out.source.checkpoint_id = checkpointId;
  if (out.prior?.mask_id === SLOT) out.prior.mask_id = maskId;
  if (out.calibration?.dataset === `file:${SLOT}`) out.calibration.dataset = `file:${fileId}`;
  return out;
}

describe("jobs/*.json", () => {
  it("holds the documented examples, each explained in jobs/README.md", () => {
    assert.deepEqual(files.sort(), ["llama-2-7b-gpu.json", "llama-3.2-1b-hub.json", "maskllm-2-4-stories260k.json", "sparsegpt-baseline.json", "transfer-from-mask.json", "wanda-jsonl-chat.json"]);
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    for (const f of files) assert.ok(readme.includes(f), `${f} not explained`);
  });

  for (const file of files) {
    it(`${file} parses, and stays valid once the demo fills in real ids`, () => {
      const body = JSON.parse(readFileSync(join(dir, file), "utf8"));
      const r = parseJobSpec(body);
      assert.ok(r.ok, `${file}: ${JSON.stringify(!r.ok && r.errors)}`);
      const filled = fillSlots(body, "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90", "9b1d4f6a-2c3e-4a5b-8d7f-0e1f2a3b4c5d");
      assert.ok(!JSON.stringify(filled).includes(SLOT), `${file}: an all-zero id outside the documented slots`);
      const again = parseJobSpec(filled);
      assert.ok(again.ok);
      assert.deepEqual({ ...again.spec, source: null, prior: null, calibration: { ...again.spec.calibration, dataset: null } }, { ...r.spec, source: null, prior: null, calibration: { ...r.spec.calibration, dataset: null } });
    });
  }

  it("wanda-jsonl-chat.json calibrates on an uploaded JSONL chat file with a chat checkpoint from the Hub", () => {
    const r = parseJobSpec(JSON.parse(readFileSync(join(dir, "wanda-jsonl-chat.json"), "utf8")));
    assert.ok(r.ok && r.spec.method === "wanda");
    assert.deepEqual([r.spec.calibration.dataset, r.spec.calibration.format], [`file:${SLOT}`, "jsonl"]);
    assert.deepEqual(r.spec.source, { hf: { repo: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", revision: "main" } });
  });

  it("llama-2-7b-gpu.json follows the paper's recipe (docs/maskllm.md §4)", () => {
    const r = parseJobSpec(JSON.parse(readFileSync(join(dir, "llama-2-7b-gpu.json"), "utf8")));
    assert.ok(r.ok && r.spec.method === "maskllm");
    assert.deepEqual(r.spec.source, { hf: { repo: "meta-llama/Llama-2-7b-hf", revision: "main" } });
    const t = r.spec.training;
    assert.deepEqual([t.steps, t.batch_size, r.spec.calibration.seq_len, t.lr, t.lr_min, t.prior_strength, t.reg_lambda], [2000, 256, 4096, 5e-4, 5e-5, 3, 1e-5]);
    assert.deepEqual([t.tau, t.kappa], [{ start: 4, end: 0.05 }, { start: 100, end: 500 }]);
    assert.equal(r.spec.eval.seq_len, 4096);
  });
});
