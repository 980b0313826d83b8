// JobReadCache on its own, with a loader the test controls, so each race is played out in a fixed order:
// a change that arrives while a read is in flight must keep that read's answer out of the cache.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Job } from "@prisma/client";
import type { JobWithResults } from "../../src/db/job-reads.js";
import { JobReadCache } from "../../src/db/job-read-cache.js";

const TENANT = randomUUID();

function answer(id: string, status: Job["status"], tenantId: string | null = TENANT): JobWithResults {
  return { job: { id, tenantId, status } as Job, results: [] };
}

/** A loader whose reads wait until the test resolves them, in any order. */
function manualLoader() {
  const pending: { tenantId: string; jobId: string; resolve: (v: JobWithResults | null) => void }[] = [];
  const load = (tenantId: string, jobId: string) => new Promise<JobWithResults | null>((resolve) => pending.push({ tenantId, jobId, resolve }));
  return { load, pending };
}

/** A loader that answers at once from `rows`, counting its calls. */
function countingLoader(rows: Map<string, JobWithResults>) {
  const calls = { n: 0 };
  const load = async (tenantId: string, jobId: string) => {
    calls.n++;
    const row = rows.get(jobId);
    return row && row.job.tenantId === tenantId ? row : null;
  };
  return { load, calls };
}

const tick = () => new Promise((r) => setImmediate(r));

/** An enabled cache over a manual loader, and a job id to race on. */
function racingCache() {
  const { load, pending } = manualLoader();
  const cache = new JobReadCache(load);
  cache.enable();
  return { id: randomUUID(), cache, pending };
}

describe("JobReadCache", () => {
  it("serves from memory once enabled, and only the owning tenant", async () => {
    const id = randomUUID();
    const { load, calls } = countingLoader(new Map([[id, answer(id, "queued")]]));
    const cache = new JobReadCache(load);
    await cache.read(TENANT, id);
    await cache.read(TENANT, id);
    assert.equal(calls.n, 2, "disabled: every read goes to the loader");
    cache.enable();
    assert.equal((await cache.read(TENANT, id))?.job.status, "queued");
    assert.equal((await cache.read(TENANT, id))?.job.status, "queued");
    assert.equal(calls.n, 3, "enabled: the second read is a hit");
    assert.equal(await cache.read(randomUUID(), id), null, "another tenant reads a cached job as missing");
    assert.equal(calls.n, 3);
  });

  it("never stores not-found, so a job created later is seen at once", async () => {
    const id = randomUUID();
    const rows = new Map<string, JobWithResults>();
    const { load, calls } = countingLoader(rows);
    const cache = new JobReadCache(load);
    cache.enable();
    assert.equal(await cache.read(TENANT, id), null);
    rows.set(id, answer(id, "queued"));
    assert.equal((await cache.read(TENANT, id))?.job.status, "queued");
    assert.equal(calls.n, 2);
    assert.equal(await cache.read(randomUUID(), id), null);
    assert.equal(cache.size, 1);
  });

  it("drops a job on invalidate, and does not store a read that a change overtook", async () => {
    const { id, cache, pending } = racingCache();
    const stale = cache.read(TENANT, id);
    await tick();
    cache.invalidate(id); // the worker's update commits while the read is on its way
    pending[0].resolve(answer(id, "queued"));
    assert.equal((await stale)?.job.status, "queued", "the caller still gets what it read");
    assert.equal(cache.size, 0, "but it is not kept");

    const fresh = cache.read(TENANT, id);
    await tick();
    assert.equal(pending.length, 2, "the next read goes to the loader");
    pending[1].resolve(answer(id, "running"));
    assert.equal((await fresh)?.job.status, "running");
    assert.equal(cache.size, 1);
    cache.invalidate(id);
    assert.equal(cache.size, 0);
  });

  it("does not let an overlapping read that started before a change store after it", async () => {
    const { id, cache, pending } = racingCache();
    const before = cache.read(TENANT, id);
    await tick();
    cache.invalidate(id);
    const after = cache.read(TENANT, id);
    await tick();
    // the read that started after the change finishes first and is stored; the older one must not replace it
    pending[1].resolve(answer(id, "running"));
    await after;
    pending[0].resolve(answer(id, "queued"));
    await before;
    assert.equal((await cache.read(TENANT, id))?.job.status, "running");
    assert.equal(pending.length, 2);
  });

  it("stores nothing read across a flush or while disabled, and starts empty when enabled again", async () => {
    const { id, cache, pending } = racingCache();
    const acrossFlush = cache.read(TENANT, id);
    await tick();
    cache.flush();
    pending[0].resolve(answer(id, "queued"));
    await acrossFlush;
    assert.equal(cache.size, 0);

    const acrossOutage = cache.read(TENANT, id);
    await tick();
    cache.disable();
    cache.enable();
    pending[1].resolve(answer(id, "queued"));
    await acrossOutage;
    assert.equal(cache.size, 0, "a read that began before the outage predates the new LISTEN");

    const r = cache.read(TENANT, id);
    await tick();
    pending[2].resolve(answer(id, "queued"));
    await r;
    assert.equal(cache.size, 1);
    cache.disable();
    assert.equal(cache.size, 0, "disable empties the cache");
  });

  it("expires entries after the TTL and keeps at most maxEntries, oldest out first", async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const { load, calls } = countingLoader(new Map(ids.map((id) => [id, answer(id, "queued")])));
    const cache = new JobReadCache(load, { maxEntries: 2, ttlMs: 300 });
    cache.enable();
    for (const id of ids) await cache.read(TENANT, id);
    assert.equal(cache.size, 2);
    await cache.read(TENANT, ids[0]);
    assert.equal(calls.n, 4, "the oldest entry was evicted");
    await cache.read(TENANT, ids[2]);
    assert.equal(calls.n, 4, "a newer one is still there");
    await new Promise((r) => setTimeout(r, 350));
    await cache.read(TENANT, ids[2]);
    assert.equal(calls.n, 5, "expired after the TTL");
  });
});
