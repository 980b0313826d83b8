// Key validation is the local store's only guard against path traversal: every key it accepts must name a
// file strictly inside the root, whatever the key is made of.
import assert from "node:assert/strict";
import { join, resolve, sep } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { assertValidKey, assertValidPrefix, checkpointFileKey, checkpointPrefix, dataFileKey, InvalidKeyError, jobModelKey, jobModelPrefix, jobPrefix, jobSnapshotKey, MAX_KEY_BYTES } from "../../src/storage/index.js";

const root = resolve("/srv/blobs");
// segments built from the characters that matter for paths, so the generator hits '..', '/', '\' and NUL often
const pathish = fc.array(fc.constantFrom(".", "/", "\\", "a", "\0", "é", ":", "-"), { maxLength: 12 }).map((cs) => cs.join(""));

function accepts(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch (err) {
    assert.ok(err instanceof InvalidKeyError, `threw ${String(err)}`);
    return false;
  }
}

describe("storage keys", () => {
  it("never accepts a key that resolves outside the root, or onto it", () => {
    fc.assert(
      fc.property(fc.oneof(pathish, fc.string(), fc.array(pathish).map((a) => a.join("/"))), (key) => {
        if (!accepts(key)) return;
        const p = join(root, ...key.split("/"));
        assert.ok(p.startsWith(root + sep), `${JSON.stringify(key)} -> ${p}`);
        assert.ok(!key.split("/").some((s) => s === ".." || s === "." || s === ""), JSON.stringify(key));
        assert.ok(!key.includes("\\") && !key.includes("\0"), JSON.stringify(key));
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts ordinary artifact keys", () => {
    for (const key of ["checkpoints/1f0e/model.safetensors", "a", "jobs/x/masks/layer.0.npz", "t/.gitattributes", "ünï/file name.bin"])
      assert.equal(assertValidKey(key), key);
  });

  it("names the reason in the error", () => {
    assert.throws(() => assertValidKey("../../etc/passwd"), /'\.\.' segment/);
    assert.throws(() => assertValidKey("/etc/passwd"), /absolute/);
    assert.throws(() => assertValidKey("a\\b"), /backslash/);
    assert.throws(() => assertValidKey("a\0b"), /control character/);
    assert.throws(() => assertValidKey("a//b"), /empty segment/);
    assert.throws(() => assertValidKey("é".repeat(MAX_KEY_BYTES / 2 + 1)), /longer than 1024 bytes/, "the limit counts UTF-8 bytes");
    assert.throws(() => assertValidKey(".tmp/x"), /reserved/);
  });

  it("takes prefixes that end anywhere, but not ones that climb out", () => {
    for (const prefix of ["", "jobs/", "jobs/ab", "jobs/x/..y", "a/."]) assert.equal(assertValidPrefix(prefix), prefix);
    for (const prefix of ["../", "a/../b", "/abs", "a//b", ".meta/", "a\\"]) assert.throws(() => assertValidPrefix(prefix), InvalidKeyError, prefix);
  });

  it("lays out every key the service writes under the prefix that removes it", () => {
    const id = "3f8a2c1e-7b4d-4e9a-9c2f-1a5b6d7e8f90";
    const under: [string, string][] = [
      [checkpointFileKey(id, "model.safetensors"), checkpointPrefix(id)],
      [jobModelKey(id, "config.json"), jobModelPrefix(id)],
      [jobModelPrefix(id), jobPrefix(id)],
      [jobSnapshotKey(id, 12), jobPrefix(id)],
    ];
    for (const [key, prefix] of under) {
      assert.equal(assertValidPrefix(prefix), prefix);
      assert.ok(key.startsWith(prefix) && key.length > prefix.length, `${key} under ${prefix}`);
    }
    for (const key of [checkpointFileKey(id, "config.json"), dataFileKey(id), jobModelKey(id, "README.md"), jobSnapshotKey(id, 12)]) assert.equal(assertValidKey(key), key);
    assert.ok(!jobPrefix(id).startsWith(checkpointPrefix(id)) && !dataFileKey(id).startsWith(jobPrefix(id)), "the three kinds never share a prefix");
  });
});
