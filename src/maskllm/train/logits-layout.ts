// Where a run keeps its mask logits: every target's [groups, C] logits stacked into ONE [Σgroups, C] array (rows in
// target order), and AdamW's two moments alike, so a step's mask math runs over all targets in a few ops with each
// target's rows a slice (host/step.ts, tf-step.ts).
import type { HostLogitsState } from "../host/step.js";
import type { NMPattern } from "../mask/patterns.js";
import { candidateCount, groupCount, initTargetLogits, type LogitsMap, type MaskTarget } from "./logits.js";
import { applyPrior } from "./prior.js";
import type { SnapshotState } from "./snapshot.js";

export class LogitsLayout {
  /** candidates per group, C */
  readonly c: number;
  /** groups per target, in target order */
  readonly groups: number[];
  /** each target's first row */
  readonly offsets: number[] = [];
  readonly totalGroups: number;

  constructor(readonly targets: MaskTarget[], readonly pattern: NMPattern) {
    this.c = candidateCount(pattern);
    this.groups = targets.map((t) => groupCount(t, pattern));
    this.totalGroups = this.groups.reduce((a, b) => a + b, 0);
    this.groups.reduce((off, g) => (this.offsets.push(off), off + g), 0);
  }

  /** Each target's rows of a [Σgroups, C] array, by weight name: views, not copies (a snapshot encodes them at once, and a run's result keeps the final arrays themselves). */
  unflatten(flat: Float32Array): LogitsMap {
    const { c, offsets, groups } = this;
    return new Map(this.targets.map((t, i) => [t.name, flat.subarray(offsets[i] * c, (offsets[i] + groups[i]) * c)]));
  }

  /**
   * A run's first logits and moments, in arrays from `alloc`, filled target by target (one layer's temporaries at a
   * time): the snapshot's, or logits N(0, σ²) shifted by the target's prior mask where it has one and moments zero.
   */
  initialState(
    alloc: (n: number) => Float32Array,
    init: { seed: number; initStd: number; priorStrength: number },
    snapshot?: SnapshotState,
    prior?: Map<string, ArrayLike<number>>,
  ): HostLogitsState {
    const { c, offsets, pattern } = this;
    const n = this.totalGroups * c;
    const state: HostLogitsState = { logits: alloc(n), m: alloc(n), v: alloc(n) };
    this.targets.forEach((t, i) => {
      const at = offsets[i] * c;
      if (snapshot) {
        state.logits.set(snapshot.logits.get(t.name)!, at);
        state.m.set(snapshot.m.get(t.name)!, at);
        state.v.set(snapshot.v.get(t.name)!, at);
        return;
      }
      const l = initTargetLogits(t, i, pattern, init.seed, init.initStd);
      const m0 = prior?.get(t.name);
      state.logits.set(m0 ? applyPrior(l, m0, pattern, init.priorStrength, t.name) : l, at);
    });
    return state;
  }
}
