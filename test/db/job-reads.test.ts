// readJobWithResults must answer exactly what the Prisma reads it replaced answer (getJob + the results query),
// also in a time zone other than UTC, and never another tenant's job.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createJob, getJob } from "../../src/db/jobs.repository.js";
import { readJobWithResults } from "../../src/db/job-reads.js";
import { testConfig } from "../helpers/config.js";
import { spec, testDb } from "../helpers/db.js";

// pg reads a timestamp without a zone in the process's zone: make that far from UTC, so a wrong read shows
process.env.TZ = "Pacific/Kiritimati";
const { prisma, tenant } = testDb();

test("readJobWithResults returns what Prisma returns, results only once succeeded, scoped to the tenant", async (t) => {
  // and the session's zone too (it decides how timestamptz is written out)
  const pool = new pg.Pool({ connectionString: testConfig().databaseUrl, max: 2, options: "-c TimeZone=America/St_Johns" });
  t.after(() => pool.end());
  const [a, b] = [await tenant(), await tenant()];
  const { job } = await createJob(prisma, a, spec());

  const queued = await readJobWithResults(pool, a, job.id);
  assert.deepEqual(queued, { job: await getJob(prisma, a, job.id), results: [] });
  assert.equal(await readJobWithResults(pool, b, job.id), null, "another tenant's job reads as missing");
  assert.equal(await readJobWithResults(pool, a, randomUUID()), null);

  const art = (kind: "report" | "snapshot" | "mask_npz", name: string, createdAt: Date) =>
    prisma.artifact.create({ data: { jobId: job.id, kind, name, storageKey: `jobs/${job.id}/${name}-${randomUUID()}`, bytes: 2n ** 53n + 1n, sha256: "x", createdAt } });
  await art("mask_npz", "mask.npz", new Date("2030-01-02T03:04:05.678Z"));
  await art("snapshot", "snap.bin", new Date("2030-01-01T00:00:00.000Z"));
  await art("report", "report.json", new Date("2030-01-01T00:00:00.001Z"));
  assert.deepEqual((await readJobWithResults(pool, a, job.id))?.results, [], "no results before it succeeded");

  await prisma.job.update({ where: { id: job.id }, data: { status: "succeeded", progress: 1, metrics: { ppl: 9.5 }, startedAt: new Date("2030-01-01T00:00:00.123Z"), finishedAt: new Date() } });
  const expected = await prisma.artifact.findMany({ where: { jobId: job.id, kind: { not: "snapshot" } }, orderBy: { createdAt: "asc" } });
  const done = await readJobWithResults(pool, a, job.id);
  assert.deepEqual(done, { job: await getJob(prisma, a, job.id), results: expected });
  assert.deepEqual(done?.results.map((r) => r.name), ["report.json", "mask.npz"]);
  assert.equal(done?.results[0].bytes, 2n ** 53n + 1n);
});
