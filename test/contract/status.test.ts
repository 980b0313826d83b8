// The status machine as data: final statuses have no exits, every non-final status can be cancelled, and
// stages only move forward.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canTransition, FINAL_STATUSES, isFinal, JOB_STAGES, JOB_STATUSES, stagesBefore, TRANSITIONS, type JobStage, type JobStatus } from "../../src/contract/status.js";

// what transition() and setStage() (src/db/transitions.ts) ask of the table
const sourcesOf = (to: JobStatus) => JOB_STATUSES.filter((from) => canTransition(from, to));
const canAdvanceStage = (from: JobStage | null, to: JobStage) => from === null || stagesBefore(to).includes(from);

describe("status machine", () => {
  it("has no way out of a final status and a way into one from every other status", () => {
    for (const s of JOB_STATUSES) {
      assert.equal(isFinal(s), (FINAL_STATUSES as readonly string[]).includes(s));
      if (isFinal(s)) assert.deepEqual(TRANSITIONS[s], []);
      else assert.ok(TRANSITIONS[s].some(isFinal), `${s} can never finish`);
    }
  });

  it("allows exactly the documented changes", () => {
    const allowed = JOB_STATUSES.flatMap((from) => JOB_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}>${to}`));
    assert.deepEqual(allowed.sort(), ["queued>cancelled", "queued>failed", "queued>running", "running>cancelled", "running>failed", "running>queued", "running>succeeded"]);
    assert.deepEqual(sourcesOf("cancelled"), ["queued", "running"]);
    assert.deepEqual(sourcesOf("succeeded"), ["running"]);
  });

  it("cancels anything not yet final", () => {
    assert.deepEqual(sourcesOf("cancelled"), ["queued", "running"]);
    assert.deepEqual(JOB_STATUSES.filter((s) => !isFinal(s)), ["queued", "running"]);
  });

  it("moves stages forward only", () => {
    assert.equal(canAdvanceStage(null, "fetching"), true);
    assert.equal(canAdvanceStage("fetching", "training"), true);
    assert.equal(canAdvanceStage("training", "training"), false);
    assert.equal(canAdvanceStage("exporting", "evaluating"), false);
    assert.deepEqual(stagesBefore("fetching"), []);
    assert.deepEqual(stagesBefore("uploading"), JOB_STAGES.slice(0, -1));
  });
});
