// Job validation of the model families people prune: Hub-shaped Llama 3.2 (rope_type llama3), Qwen3 and Mistral
// folders pass, and a job whose calibration or evaluation windows are longer than the model's sliding_window is
// refused before anything runs, naming sliding_window and the length.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../src/maskllm/backend.js";
import { assertJobSpec } from "../../src/contract/job-spec/parse.js";
import { InvalidJobError } from "../../src/contract/errors.js";
import { validateCheckpoint } from "../../src/worker/validate.js";
import { TINY_HUB_CONFIGS, tinyFamilyModel, writeTinyHubFolder, type TinyFamily } from "../helpers/tiny-llama.js";
import { testConfig } from "../helpers/config.js";

let dir: string;
before(async () => {
  await initBackend("wasm");
  dir = await mkdtemp(join(tmpdir(), "mf-validate-"));
  for (const family of Object.keys(TINY_HUB_CONFIGS) as TinyFamily[]) {
    const m = tinyFamilyModel(family, 2);
    await writeTinyHubFolder(family, m, join(dir, family));
    for (const t of m.weights.values()) t.dispose();
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const spec = (method: string, calibSeq: number, evalSeq?: number) =>
  assertJobSpec({ source: { checkpoint_id: "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90" }, method, pattern: "2:4", calibration: { seq_len: calibSeq }, ...(evalSeq ? { eval: { seq_len: evalSeq } } : {}) });

test("Llama 3.2, Qwen3 and Mistral Hub folders validate, with their features parsed", async () => {
  const config = testConfig();
  const l = await validateCheckpoint(join(dir, "llama-3.2"), spec("maskllm", 32), config);
  assert.equal(l.llama.ropeScaling?.ropeType, "llama3");
  assert.deepEqual(l.llama.eosTokenId, [2, 3]);
  const q = await validateCheckpoint(join(dir, "qwen3"), spec("maskllm", 32), config);
  assert.equal(q.llama.qkNorm, true);
  // embed 64·32 + final norm 32 + 2 layers × (norms 2·32, q 64·32, k 32·32, v 32·32, o 32·64, gate/up/down 3·64·32, q/k norms 2·16), tied
  assert.equal(q.params, 64 * 32 + 32 + 2 * (2 * 32 + 64 * 32 + 2 * 32 * 32 + 32 * 64 + 3 * 64 * 32 + 2 * 16));
  const m = await validateCheckpoint(join(dir, "mistral"), spec("sparsegpt", 40), config);
  assert.deepEqual(m.llama.slidingWindow, { size: 40, fromLayer: 0 });
});

test("windows longer than Mistral's sliding_window are refused at validation, naming the field and the length", async () => {
  const config = testConfig();
  const refused = (what: string, n: number) => (e: unknown) =>
    e instanceof InvalidJobError && e.code === "invalid_spec" && e.message.includes(`${what} of ${n} tokens is longer than the model's sliding_window (40)`);
  await assert.rejects(validateCheckpoint(join(dir, "mistral"), spec("sparsegpt", 64), config), refused("calibration.seq_len", 64));
  await assert.rejects(validateCheckpoint(join(dir, "mistral"), spec("maskllm", 32, 48), config), refused("eval.seq_len", 48));
});
