// SingleFlightCache (the queue positions of GET /v1/jobs/:id): one load for concurrent misses, kept for the
// TTL, failures not kept, bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SingleFlightCache } from "../../src/api/single-flight-cache.js";

test("concurrent misses share one load, and its value is kept for the TTL only", async () => {
  const cache = new SingleFlightCache<number>(300);
  let loads = 0;
  let release!: (v: number) => void;
  const load = () => {
    loads++;
    return new Promise<number>((r) => (release = r));
  };
  const waiting = [cache.get("job", load), cache.get("job", load), cache.get("job", load)];
  release(3);
  assert.deepEqual(await Promise.all(waiting), [3, 3, 3]);
  assert.equal(loads, 1);
  assert.equal(await cache.get("job", async () => 99), 3, "within the TTL");
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(await cache.get("job", async () => 4), 4, "after the TTL");
});

test("a failed load is not kept, and past maxEntries the oldest key goes", async () => {
  const cache = new SingleFlightCache<number>(10_000, 2);
  await assert.rejects(cache.get("a", async () => Promise.reject(new Error("redis down"))));
  assert.equal(await cache.get("a", async () => 1), 1, "retried after the failure");
  await cache.get("b", async () => 2);
  await cache.get("c", async () => 3);
  assert.equal(await cache.get("a", async () => 10), 10, "a was evicted");
  assert.equal(await cache.get("c", async () => 30), 3);
});
