// GET /v1/jobs/:id answers from the in-process job cache, through the real app: a change made by another
// process (a worker's write, here Prisma on its own connection) shows on the next GETs within a bounded wait
// and is never served stale after that; the API's own cancel and delete show at once; another tenant still gets
// 404; and with the LISTEN connection down every GET reads the database.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import type { App } from "../../../../src/api/app.js";
import { createJob, updateProgress } from "../../../../src/db/jobs.repository.js";
import { transition } from "../../../../src/db/transitions.js";
import { JobChangeListener, LISTENER_APPLICATION_NAME } from "../../../../src/db/job-change-listener.js";
import { parseJobSpec } from "../../../../src/contract/job-spec/parse.js";
import { testConfig } from "../../../helpers/config.js";
import { hubJob, newTenant, prisma, v1App } from "../../../helpers/v1-api.js";

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An app whose job cache listens, with a count of the job reads that reached Postgres, and `settled(id)`: a job's
 * creation is announced too (its first event bumps the row), and a notification that lands between two GETs
 * would make a "served from memory" check fail for the wrong reason, so tests wait for it to pass first.
 */
async function listeningApp(t: TestContext, opts: Parameters<typeof v1App>[1] = {}) {
  const app = await v1App(t, opts);
  const dbReads = { n: 0 };
  const query = app.pg.query.bind(app.pg) as (...a: unknown[]) => unknown;
  app.pg.query = ((...args: unknown[]) => {
    if ((args[0] as { name?: string })?.name === "maskforge-job-with-results") dbReads.n++;
    return query(...args);
  }) as typeof app.pg.query;
  // a second listener in this process: when it has heard a change, the app's (same server, same event loop) has too
  const heard: string[] = [];
  const witness = new JobChangeListener(testConfig().databaseUrl, { onChange: (id) => heard.push(id), onListening: () => {}, onLost: () => {} });
  witness.start();
  t.after(() => witness.stop());
  await until("the job cache and the witness listen", () => app.jobReads.listening && witness.listening);
  const settled = async (...ids: string[]) => {
    await until("the jobs' creation is announced", () => ids.every((id) => heard.includes(id)));
    await new Promise((r) => setTimeout(r, 20));
  };
  return { app, dbReads, settled };
}

async function queuedJob(tenantId: string) {
  const r = parseJobSpec(hubJob());
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return (await createJob(prisma, tenantId, r.spec)).job.id;
}

const get = async (app: App, id: string, auth: { authorization: string }) => {
  const res = await app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: auth });
  return { code: res.statusCode, body: res.json() };
};

test("a worker's change shows on the next GET within a bounded wait and is never served stale after", async (t) => {
  const { app, dbReads, settled } = await listeningApp(t);
  const a = await newTenant();
  const id = await queuedJob(a.id);
  await settled(id);

  assert.equal((await get(app, id, a.auth)).body.status, "queued");
  const reads = dbReads.n;
  assert.equal((await get(app, id, a.auth)).body.status, "queued");
  assert.equal(dbReads.n, reads, "the second GET is answered from memory");

  // the worker takes the job and reports progress, on its own connections
  await transition(prisma, id, ["queued"], "running");
  await updateProgress(prisma, id, { progress: 0.25, etaSeconds: 42 });
  const seen = Date.now();
  await until("the GET shows the worker's progress", async () => (await get(app, id, a.auth)).body.progress === 0.25, 2000);
  t.diagnostic(`visible after ${Date.now() - seen} ms`);
  for (let i = 0; i < 5; i++) {
    const { body } = await get(app, id, a.auth);
    assert.deepEqual([body.status, body.progress, body.etaSeconds], ["running", 0.25, 42], "never the old answer again");
  }

  // a result artifact registered without touching the job row (the Artifact trigger announces it)
  await transition(prisma, id, ["running"], "succeeded");
  await until("succeeded", async () => (await get(app, id, a.auth)).body.status === "succeeded", 2000);
  await prisma.artifact.create({ data: { jobId: id, kind: "report", name: "report.json", storageKey: `jobs/${id}/report.json`, bytes: 2n, sha256: "x" } });
  await until("the result is listed", async () => (await get(app, id, a.auth)).body.results.length === 1, 2000);
  assert.equal((await get(app, id, a.auth)).body.results[0].name, "report.json");
});

test("cancel and delete through the API show on the very next GET", async (t) => {
  const { app, dbReads, settled } = await listeningApp(t);
  const a = await newTenant();
  const id = (await app.inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: hubJob() })).json().job.id;
  await settled(id);
  const evicted: string[] = [];
  const evict = app.jobReads.evict;
  app.jobReads.evict = (jobId) => {
    evicted.push(jobId);
    evict(jobId);
  };

  const first = await get(app, id, a.auth);
  assert.deepEqual([first.body.status, first.body.queuePosition], ["queued", 0]);
  await get(app, id, a.auth);
  const reads = dbReads.n;
  assert.equal((await get(app, id, a.auth)).body.status, "queued");
  assert.equal(dbReads.n, reads, "cached before the cancel");

  assert.equal((await app.inject({ method: "POST", url: `/v1/jobs/${id}/cancel`, headers: a.auth })).statusCode, 200);
  assert.deepEqual(evicted, [id], "the cancel evicts before it answers, without waiting for the notification");
  const after = await get(app, id, a.auth);
  assert.deepEqual([after.body.status, after.body.queuePosition], ["cancelled", null]);

  await get(app, id, a.auth); // cached again
  assert.equal((await app.inject({ method: "DELETE", url: `/v1/jobs/${id}`, headers: a.auth })).statusCode, 204);
  assert.deepEqual(evicted, [id, id]);
  const gone = await get(app, id, a.auth);
  assert.equal(gone.code, 404);
  assert.equal(gone.body.status, 404);
});

test("a cached job's queue position moves when the jobs ahead leave, its row unchanged", async (t) => {
  const { app, dbReads, settled } = await listeningApp(t);
  const a = await newTenant();
  const submit = async () => (await app.inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: hubJob() })).json().job.id as string;
  const [first, second] = [await submit(), await submit()];
  await settled(first, second);
  assert.equal((await get(app, second, a.auth)).body.queuePosition, 1);
  const reads = dbReads.n;
  assert.equal((await app.inject({ method: "POST", url: `/v1/jobs/${first}/cancel`, headers: a.auth })).statusCode, 200);
  await until("the second job moves up", async () => (await get(app, second, a.auth)).body.queuePosition === 0, 2000);
  assert.equal(dbReads.n, reads, "the second job's row was served from the cache throughout");
});

test("another tenant gets 404 for a job that is in the cache, as it does from the database", async (t) => {
  const { app, dbReads, settled } = await listeningApp(t);
  const [a, b] = [await newTenant(), await newTenant()];
  const id = await queuedJob(a.id);
  await settled(id);
  const fromDb = await get(app, id, b.auth);
  await get(app, id, a.auth);
  await get(app, id, a.auth);
  const reads = dbReads.n;
  const fromCache = await get(app, id, b.auth);
  assert.equal(dbReads.n, reads, "answered from the cache");
  assert.equal(fromCache.code, 404);
  const strip = ({ request_id: _r, ...rest }: Record<string, unknown>) => rest;
  assert.deepEqual(strip(fromCache.body), strip(fromDb.body), "the same problem either way");
  assert.equal(fromCache.body.detail, `no job ${id}`);
});

test("while the LISTEN connection is down every GET reads the database, and the cache comes back empty", async (t) => {
  // a slow reconnect, so the test can look at the outage
  const { app, dbReads, settled } = await listeningApp(t, { jobCacheReconnect: { minMs: 3000, maxMs: 3000 } });
  const a = await newTenant();
  const id = await queuedJob(a.id);
  await settled(id);
  await get(app, id, a.auth);
  await get(app, id, a.auth); // cached

  const admin = new pg.Client({ connectionString: testConfig().databaseUrl });
  await admin.connect();
  t.after(() => admin.end());
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [LISTENER_APPLICATION_NAME]);
  await until("the cache knows it is not listening", () => !app.jobReads.listening);

  // this change's notification is lost: nobody listens
  await transition(prisma, id, ["queued"], "running");
  const reads = dbReads.n;
  assert.equal((await get(app, id, a.auth)).body.status, "running");
  assert.equal((await get(app, id, a.auth)).body.status, "running");
  assert.equal(dbReads.n, reads + 2, "both GETs went to the database");
  assert.equal(app.jobReads.listening, false, "still down: the answers above did not come from a notification");

  await until("listening again", () => app.jobReads.listening, 8000);
  await get(app, id, a.auth);
  const again = dbReads.n;
  await get(app, id, a.auth);
  assert.equal(dbReads.n, again, "cached again once listening");
  await updateProgress(prisma, id, { progress: 0.5 });
  await until("the change shows", async () => (await get(app, id, a.auth)).body.progress === 0.5, 2000);
});
