import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { candidateIndices, parsePattern, type NMPattern } from "../../../src/maskllm/mask/patterns.js";
import { nmMaskFromScores, applyMaskInPlace } from "../../../src/maskllm/mask/select.js";
import { verifyNMMask, zerosMatchMask } from "../../../src/maskllm/mask/verify.js";
import { packBits, unpackBits } from "../../../src/maskllm/mask/packbits.js";

test("candidate order stays lexicographic in the kept indices", () => {
  assert.deepEqual(candidateIndices({ n: 2, m: 4 }), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
  assert.deepEqual(candidateIndices({ n: 1, m: 4 }), [[0], [1], [2], [3]]);
  assert.equal(candidateIndices({ n: 4, m: 8 }).length, 70);
  assert.equal(candidateIndices({ n: 8, m: 16 }).length, 12870);
});

test("hard 2:4 mask keeps the two largest scores of each group along the input dimension", () => {
  // 2 rows × 8 cols: groups are [0..3], [4..7] of each row
  const scores = [
    0.1, 0.9, 0.5, 0.3, /**/ -1, -2, -3, -4,
    4, 3, 2, 1, /**/ 0, 7, 0, 7,
  ];
  const mask = nmMaskFromScores(scores, 2, 8, parsePattern("2:4"));
  assert.deepEqual(Array.from(mask), [0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1]);
});

test("ties go to the lower index and NaN ranks last", () => {
  assert.deepEqual(Array.from(nmMaskFromScores([1, 1, 1, 1], 1, 4, { n: 2, m: 4 })), [1, 1, 0, 0]);
  assert.deepEqual(Array.from(nmMaskFromScores([NaN, 0, NaN, -5], 1, 4, { n: 2, m: 4 })), [0, 1, 0, 1]);
  assert.deepEqual(Array.from(nmMaskFromScores([3, 9, 4, 8], 1, 4, { n: 1, m: 4 })), [0, 1, 0, 0]);
});

test("every mask from random scores passes the verifier for 2:4, 1:4, 4:8 and odd patterns", () => {
  const patterns: NMPattern[] = [{ n: 2, m: 4 }, { n: 1, m: 4 }, { n: 4, m: 8 }, { n: 3, m: 7 }, { n: 15, m: 16 }];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: patterns.length - 1 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (pi, rows, groups, seed) => {
      const p = patterns[pi];
      const cols = groups * p.m;
      let s = seed >>> 0;
      const scores = Float32Array.from({ length: rows * cols }, () => ((s = (s * 1664525 + 1013904223) >>> 0) % 7) - 3); // many ties
      const mask = nmMaskFromScores(scores, rows, cols, p);
      const v = verifyNMMask(mask, rows, cols, p);
      assert.ok(v.ok, JSON.stringify(v));
      // the kept scores are never beaten by a pruned one within a group
      for (let g = 0; g < mask.length; g += p.m) {
        let minKept = Infinity, maxPruned = -Infinity;
        for (let j = 0; j < p.m; j++) {
          if (mask[g + j]) minKept = Math.min(minKept, scores[g + j]);
          else maxPruned = Math.max(maxPruned, scores[g + j]);
        }
        assert.ok(minKept >= maxPruned);
      }
    }),
    { numRuns: 200 },
  );
});

test("the verifier rejects wrong counts and non-binary values, naming the first bad group", () => {
  const p = { n: 2, m: 4 };
  assert.equal(verifyNMMask([1, 1, 0, 0, 1, 0, 0, 0], 1, 8, p).ok, false);
  const v = verifyNMMask([1, 1, 0, 0, 1, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 1], 2, 8, p);
  assert.equal(v.badGroups, 2);
  assert.deepEqual(v.firstBad, { row: 0, group: 1, values: [1, 0, 0, 0] });
  assert.equal(verifyNMMask([0, 1, 0, 1], 1, 4, p).ok, true);
  assert.throws(() => verifyNMMask([1, 1, 0], 1, 3, p), /not a multiple of M=4/);
});

test("applyMaskInPlace writes exact zeros and zerosMatchMask sees a leftover", () => {
  const w = Float32Array.from([-0.5, 2, -3, 4]);
  const mask = [1, 0, 1, 0];
  assert.equal(zerosMatchMask(w, mask), false);
  applyMaskInPlace(w, mask);
  assert.deepEqual(Array.from(w), [-0.5, 0, -3, 0]);
  assert.ok(Object.is(w[1], 0));
  assert.equal(zerosMatchMask(w, mask), true);
});

test("packBits matches numpy.packbits (big-endian, row-major, zero-padded) and round-trips", () => {
  // np.packbits(np.array([1,0,1,1,0,0,0,1,1,1], bool)) == [177, 192]
  assert.deepEqual(Array.from(packBits([1, 0, 1, 1, 0, 0, 0, 1, 1, 1])), [177, 192]);
  // a [3, 8] mask: rows kept {0,1,4,6}, {2,3,5,7}, {0,3,4,7} -> np.packbits(m) == [202, 53, 153]
  const m = new Uint8Array(24);
  [0, 1, 4, 6].forEach((j) => (m[j] = 1));
  [2, 3, 5, 7].forEach((j) => (m[8 + j] = 1));
  [0, 3, 4, 7].forEach((j) => (m[16 + j] = 1));
  assert.deepEqual(Array.from(packBits(m)), [202, 53, 153]);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70 }), (raw) => {
      const bits = raw.map((b) => b & 1);
      assert.deepEqual(unpackBits(packBits(bits), bits.length), bits);
    }),
  );
  assert.throws(() => unpackBits(new Uint8Array(1), 9), /cannot hold 9 bits/);
});
