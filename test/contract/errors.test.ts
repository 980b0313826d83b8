// classifyError decides retry and final status from the error's own properties, so the decision is the same
// for an error thrown in-process and for one that crossed BullMQ's sandbox as a plain object.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UnrecoverableError } from "bullmq";
import { classifyError, InvalidJobError, isUserError, JobCancelledError, TransientError } from "../../src/contract/errors.js";
import { CheckpointError } from "../../src/checkpoint/errors.js";
import { parseHfConfig } from "../../src/checkpoint/hf-config.js";
import { PruneInputError } from "../../src/maskllm/prune/errors.js";
import { MaskShapeError } from "../../src/maskllm/train/logits.js";
import { TrainingInputError } from "../../src/maskllm/train/errors.js";

/** What BullMQ's sandbox hands the parent: a fresh Error with the child's own properties copied on. */
function acrossSandbox(err: Error): Error {
  const copy: Record<string, unknown> = {};
  for (const k of Object.getOwnPropertyNames(err)) copy[k] = (err as unknown as Record<string, unknown>)[k];
  return Object.assign(new Error(), JSON.parse(JSON.stringify(copy)));
}

describe("errors", () => {
  it("fails a bad job at once with the user's message, in-process and across the sandbox", () => {
    const err = new InvalidJobError("source_not_found", "the Hub has no repo a/b");
    assert.ok(err instanceof UnrecoverableError);
    for (const e of [err, acrossSandbox(err)]) {
      assert.equal(e.name, "UnrecoverableError", "BullMQ skips retries by this name");
      assert.deepEqual(classifyError(e), { retry: false, status: "failed", code: "source_not_found", publicMessage: "the Hub has no repo a/b" });
    }
  });

  it("retries transient errors and known network or database codes", () => {
    assert.deepEqual(classifyError(acrossSandbox(new TransientError("hub 503"))).retry, true);
    for (const code of ["ECONNRESET", "ETIMEDOUT", "P1001", "P2034"]) assert.equal(classifyError(Object.assign(new Error("x"), { code })).retry, true, code);
    assert.equal(classifyError(new TypeError("fetch failed", { cause: Object.assign(new Error(), { code: "UND_ERR_SOCKET" }) })).retry, true);
    assert.equal(classifyError(new TransientError("x")).code, "upstream_unavailable");
  });

  it("ends a cancelled job as cancelled, without retry", () => {
    const err = new JobCancelledError("j1");
    assert.ok(err instanceof UnrecoverableError);
    assert.deepEqual(classifyError(acrossSandbox(err)), { retry: false, status: "cancelled", code: "cancelled", publicMessage: "the job was cancelled on request" });
  });

  it("tells the user how to fit in memory", () => {
    const c = classifyError(new RangeError("Array buffer allocation failed"));
    assert.equal(c.code, "resource_exhausted");
    assert.equal(c.retry, false);
    assert.match(c.publicMessage, /batch_size/);
  });

  it("hides unknown errors behind a generic message and does not retry them", () => {
    for (const e of [new Error("secret path /etc/x"), "a string", null, 42]) {
      const c = classifyError(e);
      assert.deepEqual([c.retry, c.status, c.code], [false, "failed", "internal"]);
      assert.ok(!c.publicMessage.includes("secret"));
    }
  });

  it("maps an InvalidJobError with an unknown code to invalid_spec", () => {
    assert.equal(classifyError({ kind: "InvalidJobError", code: "weird", publicMessage: "m" }).code, "invalid_spec");
  });

  it("fails a job on the input errors of the libraries it calls, with their message, in-process and across the sandbox", () => {
    const unsupported = (() => {
      try {
        parseHfConfig({ architectures: ["LlamaForCausalLM"], hidden_act: "gelu" });
      } catch (e) {
        return e as Error;
      }
      throw new Error("gelu was accepted");
    })();
    const cases: [Error, string][] = [
      [new CheckpointError("WRONG_SHAPE", "has shape [2, 3]", "model.norm.weight"), "checkpoint_invalid"],
      [new CheckpointError("UNSUPPORTED_ARCHITECTURE", "architecture GPT2 is not supported"), "unsupported_model"],
      [unsupported, "unsupported_model"],
      [new PruneInputError("wanda needs calibration windows"), "dataset_invalid"],
      [new TrainingInputError("too few windows"), "dataset_invalid"],
      [new MaskShapeError("mask of q_proj has 12 values"), "mask_incompatible"],
    ];
    for (const [err, code] of cases)
      for (const e of [err, acrossSandbox(err)]) {
        assert.deepEqual(classifyError(e), { retry: false, status: "failed", code, publicMessage: err.message }, `${err.name}: ${err.message}`);
        assert.equal(isUserError(e), true);
      }
    assert.equal(isUserError(new Error("x")), false);
    assert.equal(isUserError(new TransientError("x")), false);
  });
});
