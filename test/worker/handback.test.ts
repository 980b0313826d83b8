// The shutdown gate of training: a hand-back waits for a near snapshot, anything else stops at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HANDBACK_REASON, TrainingStopGate } from "../../src/worker/handback.js";

function gate(steps: number, snapshotEvery: number, graceMs = 1000) {
  const outer = new AbortController();
  return { outer, g: new TrainingStopGate(outer.signal, { steps, snapshotEvery, graceMs }) };
}

test("a hand-back with a near snapshot waits for it, then stops", () => {
  const { outer, g } = gate(100, 10);
  g.progress(12, 100); // 8 steps to go at 10 ms each
  outer.abort(HANDBACK_REASON);
  assert.equal(g.signal.aborted, false);
  assert.equal(g.waiting, true);
  g.snapshotted(20);
  assert.equal(g.signal.aborted, true);
  assert.equal(g.signal.reason, HANDBACK_REASON);
  g.dispose();
});

test("a cancel, a far snapshot, no snapshots, or the end of training before the next snapshot stop at once", () => {
  const cases: [string, (c: ReturnType<typeof gate>) => void][] = [
    ["cancel", ({ outer, g }) => (g.progress(12, 100), outer.abort(new Error("cancelled")))],
    ["far snapshot", ({ outer, g }) => (g.progress(12, 0.5), outer.abort(HANDBACK_REASON))],
    ["end first", ({ outer, g }) => (g.progress(95, 100), outer.abort(HANDBACK_REASON))],
  ];
  for (const [name, act] of cases) {
    const c = gate(100, 10);
    act(c);
    assert.equal(c.g.signal.aborted, true, name);
    c.g.dispose();
  }
  const { outer, g } = gate(100, 0);
  g.progress(12, 100);
  outer.abort(HANDBACK_REASON);
  assert.equal(g.signal.aborted, true, "snapshots off");
});

test("the grace period bounds the wait, with or without a measured pace", async () => {
  for (const pace of [1000, undefined]) {
    const { outer, g } = gate(100, 10, 50);
    if (pace) g.progress(12, pace);
    outer.abort(HANDBACK_REASON);
    assert.equal(g.signal.aborted, false);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(g.signal.aborted, true);
    g.dispose();
  }
});

test("an already aborted signal is decided at once", () => {
  const outer = new AbortController();
  outer.abort(new Error("lost"));
  const g = new TrainingStopGate(outer.signal, { steps: 100, snapshotEvery: 10 });
  assert.equal(g.signal.aborted, true);
});
