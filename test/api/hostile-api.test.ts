// Hostile input against the running API (real HTTP on a loopback port, Postgres, Redis): auth, tenant isolation,
// SSRF at submit, body shapes, ids, cursors, uploads, tars and bytes that are not HTTP. Each row of the table is
// one subtest and must get a 4xx application/problem+json answer in bounded time, and leave every table and the
// blob store exactly as they were. Adding a row is adding a case; the count is printed at the end.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { App } from "../../src/api/app.js";
import { newTenant, snapshot, TINY_CONFIG, TINY_WEIGHTS, tinyCheckpointUpload, v1App, hubJob, type TestTenant } from "../helpers/v1-api.js";
import { cursorOf, multipartOf, rawRequest, send, tarOf, type Answer } from "../helpers/hostile-http.js";

interface Case {
  name: string;
  run: () => Promise<Answer>;
  /** expected status (default: any 4xx) */
  status?: number;
  /** the answer must come within this many ms */
  withinMs?: number;
}

const deep = (open: string, close: string, n: number) => open.repeat(n) + close.repeat(n);
const YEARS = ["-010000-01-01T00:00:00.000Z", "+275760-09-13T00:00:00.000Z", "-004714-11-24T00:00:00.000Z", "0000-01-01T00:00:00.000Z"];

let app: App;
let base: string;
let a: TestTenant;
let b: TestTenant;
let aJob: string;
let aCheckpoint: string;
let s3App: App;
let s3Base: string;
let count = 0;

const json = (t: TestTenant) => ({ ...t.auth, "content-type": "application/json" });
// the tenant is looked up when the case runs (the table is built before the tenants exist)
const post = (path: string, body: unknown, t?: () => TestTenant) => () => send(base, "POST", path, { headers: json(t?.() ?? b), body: typeof body === "string" ? body : JSON.stringify(body) });
const get = (path: string | (() => string), t?: () => TestTenant, headers: Record<string, string> = {}) => () =>
  send(base, "GET", typeof path === "string" ? path : path(), { headers: { ...(t?.() ?? b).auth, ...headers } });
const upload = (files: { name: string; body: Buffer | string }[]) => () => {
  const m = multipartOf(files);
  return send(base, "POST", "/v1/checkpoints", { headers: { ...b.auth, "content-type": m.type }, body: m.body });
};
const job = (extra: Record<string, unknown>) => post("/v1/jobs", hubJob(extra));
const jobOn = (source: unknown) => post("/v1/jobs", { source, method: "magnitude" });
const raw = (...pieces: string[]) => () => rawRequest(base, pieces);

// the apps are closed (and their queue keys removed) when the suite ends
const closers: (() => unknown)[] = [];
const suite = { after: (fn: () => unknown) => void closers.push(fn) };

async function setUp(): Promise<void> {
  // short HTTP timeouts so the slow-client cases finish fast; a small per-file cap for the tar-size case; no
  // practical cap on queued jobs, so a job spec that should be refused and is not shows as accepted (201), not
  // as the 429 of a tenant whose earlier wrongly accepted jobs filled its queue
  const env = { HTTP_IDLE_TIMEOUT_MS: "2000", HTTP_HEADERS_TIMEOUT_MS: "1000", HTTP_REQUEST_TIMEOUT_MS: "4000", MAX_UPLOAD_FILE_BYTES: String(4 * 1024 * 1024), RATE_LIMIT_PER_MINUTE: "100000", MAX_CONCURRENT_JOBS_PER_TENANT: "100000" };
  app = await v1App(suite, { env });
  base = await app.listen({ host: "127.0.0.1", port: 0 });
  // a deployment on S3 storage: its own bucket must never be a job source (nothing listens there: refused first)
  s3App = await v1App(suite, { env: { MAX_CONCURRENT_JOBS_PER_TENANT: "100000", STORAGE_DRIVER: "s3", S3_BUCKET: "maskforge-store", S3_ENDPOINT: "http://127.0.0.1:9", S3_SOURCE_BUCKETS: "public-models" } });
  await s3App.listen({ host: "127.0.0.1", port: 0 });
  s3Base = `http://127.0.0.1:${(s3App.server.address() as AddressInfo).port}`;
  a = await newTenant();
  b = await newTenant();
  // tenant A owns a checkpoint and a job; tenant B attacks them
  const up = tinyCheckpointUpload();
  const ck = await app.inject({ method: "POST", url: "/v1/checkpoints", headers: { ...a.auth, ...up.headers }, payload: up.payload });
  assert.equal(ck.statusCode, 201, ck.body);
  aCheckpoint = ck.json().id;
  const jb = await app.inject({ method: "POST", url: "/v1/jobs", headers: a.auth, payload: hubJob() });
  assert.equal(jb.statusCode, 201, jb.body);
  aJob = jb.json().job.id;
}

const weights = (name = "model.safetensors") => ({ name, body: TINY_WEIGHTS });
const config = { name: "config.json", body: JSON.stringify(TINY_CONFIG) };

const CASES: Record<string, Case[]> = {
  auth: [
    { name: "no Authorization", run: () => send(base, "GET", "/v1/jobs"), status: 401 },
    { name: "empty bearer", run: () => send(base, "GET", "/v1/jobs", { headers: { authorization: "Bearer " } }), status: 401 },
    { name: "unknown key", run: () => send(base, "GET", "/v1/jobs", { headers: { authorization: `Bearer mf_${"x".repeat(40)}` } }), status: 401 },
    { name: "Basic scheme with the key", run: () => send(base, "GET", "/v1/jobs", { headers: { authorization: `Basic ${Buffer.from(`${a.key}:`).toString("base64")}` } }), status: 401 },
    { name: "8 KiB bearer", run: () => send(base, "GET", "/v1/jobs", { headers: { authorization: `Bearer mf_${"A".repeat(8192)}` } }), status: 401 },
    { name: "key with a NUL byte (raw)", run: raw(`GET /v1/jobs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer mf_\0abc\r\n\r\n`) },
    { name: "key in the query string", run: () => send(base, "GET", `/v1/jobs?api_key=${a.key}`), status: 401 },
  ],
  tenants: [
    { name: "B reads A's job", run: () => get(`/v1/jobs/${aJob}`)(), status: 404 },
    { name: "B reads A's job events", run: () => get(`/v1/jobs/${aJob}/events`)(), status: 404 },
    { name: "B cancels A's job", run: () => post(`/v1/jobs/${aJob}/cancel`, {})(), status: 404 },
    { name: "B deletes A's job", run: () => send(base, "DELETE", `/v1/jobs/${aJob}`, { headers: b.auth }), status: 404 },
    { name: "B reads A's checkpoint", run: () => get(`/v1/checkpoints/${aCheckpoint}`)(), status: 404 },
    { name: "B deletes A's checkpoint", run: () => send(base, "DELETE", `/v1/checkpoints/${aCheckpoint}`, { headers: b.auth }), status: 404 },
    { name: "B prunes A's checkpoint", run: () => post("/v1/jobs", { source: { checkpoint_id: aCheckpoint }, method: "magnitude" })(), status: 422 },
    { name: "B's job reuses a mask it does not own", run: () => post("/v1/jobs", { source: { hf: { repo: "x/y" } }, prior: { mask_id: randomUUID() } })(), status: 422 },
    { name: "B's job calibrates on a file it does not own", run: () => job({ calibration: { dataset: `file:${randomUUID()}` } })(), status: 422 },
  ],
  ssrf: [
    { name: "webhook https://127.0.0.1", run: job({ webhook: { url: "https://127.0.0.1:3907/hook" } }), status: 400 },
    { name: "webhook https://[::1]", run: job({ webhook: { url: "https://[::1]:3907/hook" } }), status: 400 },
    { name: "webhook https://localhost", run: job({ webhook: { url: "https://localhost/hook" } }), status: 400 },
    { name: "webhook https://hooks.localhost.", run: job({ webhook: { url: "https://hooks.localhost./hook" } }), status: 400 },
    { name: "webhook metadata 169.254.169.254", run: job({ webhook: { url: "https://169.254.169.254/latest/meta-data/" } }), status: 400 },
    { name: "webhook IPv4-mapped [::ffff:127.0.0.1]", run: job({ webhook: { url: "https://[::ffff:127.0.0.1]/hook" } }), status: 400 },
    { name: "webhook IPv4-mapped metadata [::ffff:a9fe:a9fe]", run: job({ webhook: { url: "https://[::ffff:a9fe:a9fe]/hook" } }), status: 400 },
    { name: "webhook decimal 2130706433", run: job({ webhook: { url: "https://2130706433/hook" } }), status: 400 },
    { name: "webhook hex 0x7f.1", run: job({ webhook: { url: "https://0x7f.1/hook" } }), status: 400 },
    { name: "webhook 10.0.0.1", run: job({ webhook: { url: "https://10.0.0.1/hook" } }), status: 400 },
    { name: "webhook 192.168.1.1", run: job({ webhook: { url: "https://192.168.1.1/hook" } }), status: 400 },
    { name: "webhook AWS IPv6 metadata [fd00:ec2::254]", run: job({ webhook: { url: "https://[fd00:ec2::254]/hook" } }), status: 400 },
    { name: "webhook 0.0.0.0", run: job({ webhook: { url: "https://0.0.0.0/hook" } }), status: 400 },
    { name: "webhook http://", run: job({ webhook: { url: "http://hooks.example.com/hook" } }), status: 400 },
    { name: "webhook with credentials", run: job({ webhook: { url: "https://u:p@hooks.example.com/hook" } }), status: 400 },
    { name: "source https://127.0.0.1 tar", run: jobOn({ url: "https://127.0.0.1/model.tar" }), status: 400 },
    { name: "source metadata URL", run: jobOn({ url: "https://169.254.169.254/latest/meta-data/iam/" }), status: 400 },
    { name: "source [::1]", run: jobOn({ url: "https://[::1]:8443/model.tar.gz" }), status: 400 },
    { name: "source file://", run: jobOn({ url: "file:///etc/passwd" }), status: 400 },
    { name: "source gopher://", run: jobOn({ url: "gopher://127.0.0.1:6379/_FLUSHALL" }), status: 400 },
    { name: "calibration dataset on 10.0.0.1", run: job({ method: "magnitude", calibration: { dataset: "https://10.0.0.1/calib.txt" } }), status: 400 },
    { name: "s3 source in the storage bucket", run: () => send(s3Base, "POST", "/v1/jobs", { headers: json(b), body: JSON.stringify({ source: { url: `s3://maskforge-store/checkpoints/${aCheckpoint}/` }, method: "magnitude" }) }), status: 400 },
    { name: "s3 source in an unlisted bucket", run: () => send(s3Base, "POST", "/v1/jobs", { headers: json(b), body: JSON.stringify({ source: { url: "s3://someone-elses/models/x/" }, method: "magnitude" }) }), status: 400 },
    { name: "s3 source climbing out with ..", run: () => send(s3Base, "POST", "/v1/jobs", { headers: json(b), body: JSON.stringify({ source: { url: "s3://public-models/a/../../maskforge-store/checkpoints/" }, method: "magnitude" }) }), status: 400 },
    { name: "s3 source with no allow-list", run: jobOn({ url: "s3://public-models/models/x/" }), status: 400 },
  ],
  bodies: [
    { name: "200k levels of [ in metadata", run: post("/v1/jobs", `{"source":{"hf":{"repo":"a/b"}},"method":"magnitude","metadata":{"x":${deep("[", "]", 200_000)}}}`), status: 400 },
    { name: "200k levels of [ in an unknown field", run: post("/v1/jobs", `{"source":{"hf":{"repo":"a/b"}},"zzz":${deep("[", "]", 200_000)}}`), status: 400 },
    { name: "100k nested objects as source", run: post("/v1/jobs", `{"source":${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}}`), status: 400 },
    { name: "brackets inside strings do not count, 40 real levels do", run: post("/v1/jobs", `{"source":{"hf":{"repo":"[[[[{{{{"}},"m":${deep("[", "]", 40)}}`), status: 400 },
    { name: "invalid JSON", run: post("/v1/jobs", '{"source": '), status: 400 },
    { name: "JSON array body", run: post("/v1/jobs", "[]"), status: 400 },
    { name: "JSON null body", run: post("/v1/jobs", "null"), status: 400 },
    { name: "__proto__ pollution", run: post("/v1/jobs", '{"source":{"hf":{"repo":"a/b"}},"__proto__":{"admin":true}}'), status: 400 },
    { name: "constructor.prototype pollution", run: post("/v1/jobs", '{"source":{"hf":{"repo":"a/b"}},"constructor":{"prototype":{"x":1}}}'), status: 400 },
    { name: "text/plain job", run: () => send(base, "POST", "/v1/jobs", { headers: { ...b.auth, "content-type": "text/plain" }, body: JSON.stringify(hubJob()) }), status: 415 },
    { name: "2 MiB JSON body", run: post("/v1/jobs", JSON.stringify(hubJob({ metadata: { name: "x".repeat(2 * 1024 * 1024) } }))), status: 413 },
    { name: "steps as 1e400", run: post("/v1/jobs", '{"source":{"hf":{"repo":"a/b"}},"training":{"steps":1e400}}'), status: 400 },
    { name: "steps over int32", run: job({ method: "maskllm", training: { steps: 2 ** 40 } }), status: 400 },
    { name: "NUL in a tag", run: post("/v1/jobs", '{"source":{"hf":{"repo":"a/b"}},"method":"magnitude","metadata":{"name":"a\\u0000b"}}'), status: 400 },
    { name: "lone surrogate in a key", run: post("/v1/jobs", '{"source":{"hf":{"repo":"a/b"}},"method":"magnitude","metadata":{"\\udc00":1}}'), status: 400 },
    { name: "lone surrogate in a name", run: post("/v1/jobs", '{"source":{"hf":{"repo":"a/b"}},"method":"magnitude","metadata":{"name":"\\ud800"}}') },
    { name: "Idempotency-Key with a newline-free 300 chars", run: () => send(base, "POST", "/v1/jobs", { headers: { ...json(b), "idempotency-key": "k".repeat(300) }, body: JSON.stringify(hubJob()) }), status: 400 },
  ],
  ids: [
    { name: "job id not a uuid", run: get("/v1/jobs/not-a-uuid"), status: 400 },
    { name: "job id with %00", run: get("/v1/jobs/%00"), status: 400 },
    { name: "job id path traversal", run: get("/v1/jobs/..%2f..%2fetc%2fpasswd"), status: 400 },
    { name: "unknown uuid", run: get(`/v1/jobs/${randomUUID().toUpperCase()}`), status: 404 },
    { name: "mask download in an unknown format", run: get(`/v1/masks/${randomUUID()}/download?format=../../x`), status: 400 },
    { name: "artifact id not a uuid", run: get("/v1/artifacts/1%20OR%201=1/download"), status: 400 },
    { name: "malformed percent-encoding", run: get("/v1/jobs/%E0%A4%A"), status: 400 },
  ],
  cursors: [
    ...YEARS.map((y): Case => ({ name: `/v1/jobs cursor at ${y}`, run: get(`/v1/jobs?cursor=${cursorOf([y, randomUUID()])}`), status: 400 })),
    { name: "/v1/masks cursor at +275760", run: get(`/v1/masks?cursor=${cursorOf([YEARS[1], randomUUID()])}`), status: 400 },
    { name: "/v1/files cursor at -10000", run: get(`/v1/files?cursor=${cursorOf([YEARS[0], randomUUID()])}`), status: 400 },
    { name: "/v1/checkpoints cursor at -4714", run: get(`/v1/checkpoints?cursor=${cursorOf([YEARS[2], randomUUID()])}`), status: 400 },
    { name: "cursor with a non-ISO date", run: get(`/v1/jobs?cursor=${cursorOf(["1 Jan 2020", randomUUID()])}`), status: 400 },
    { name: "cursor that is not base64 JSON", run: get("/v1/jobs?cursor=%FF%FE"), status: 400 },
    { name: "event cursor seq:9999999999", run: get(() => `/v1/jobs/${aJob}/events?cursor=${Buffer.from("seq:9999999999").toString("base64url")}`, () => a), status: 400 },
    { name: "Last-Event-ID 9999999999 on the JSON page", run: get(() => `/v1/jobs/${aJob}/events`, () => a, { "last-event-id": "9999999999" }), status: 400 },
    { name: "Last-Event-ID 2147483648 on the stream", run: get(() => `/v1/jobs/${aJob}/events`, () => a, { "last-event-id": "2147483648", accept: "text/event-stream" }), status: 400 },
    { name: "Last-Event-ID negative", run: get(() => `/v1/jobs/${aJob}/events`, () => a, { "last-event-id": "-1" }), status: 400 },
    { name: "limit=0", run: get("/v1/jobs?limit=0"), status: 400 },
    { name: "limit=1e9", run: get("/v1/jobs?limit=1000000000"), status: 400 },
  ],
  uploads: [
    { name: "tar of 2000 one-byte entries (refused at the entry cap)", run: upload([{ name: "m.tar", body: tarOf(Array.from({ length: 2000 }, (_, i) => ({ name: `f${i}.bin`, body: "x" }))) }]), status: 400, withinMs: 10_000 },
    { name: "tar entry declaring 1 GiB (over the file cap, refused before writing)", run: upload([{ name: "m.tar", body: tarOf([{ name: "model.safetensors", body: "x".repeat(512), declaredSize: 1024 ** 3 }]) }]), status: 413 },
    { name: "tar with a symlink", run: upload([{ name: "m.tar", body: tarOf([{ name: "config.json", body: "", type: "2", linkName: "/etc/passwd" }]) }]), status: 400 },
    { name: "tar with ../ names", run: upload([{ name: "m.tar", body: tarOf([{ name: "../../x/config.json", body: "{}" }]) }]), status: 400 },
    { name: "tar with data after its end", run: upload([{ name: "m.tar", body: tarOf([config, weights()], { record: 10240, trailer: Buffer.from("trailing garbage") }) }]), status: 400 },
    { name: "tar that is not a tar", run: upload([{ name: "m.tar", body: Buffer.alloc(2048, 7) }]), status: 400 },
    { name: "tar cut off mid-entry", run: upload([{ name: "m.tar", body: tarOf([config, weights()]).subarray(0, 1200) }]) },
    { name: "tar plus loose files", run: upload([config, { name: "m.tar", body: tarOf([weights()]) }]), status: 400 },
    { name: "file named ../config.json", run: upload([{ name: "../config.json", body: "{}" }, weights()]) },
    { name: "file named .env", run: upload([{ name: ".env", body: "X=1" }, config, weights()]), status: 400 },
    { name: "the same file twice", run: upload([config, config, weights()]), status: 400 },
    { name: "weights that are not safetensors", run: upload([config, { name: "model.safetensors", body: Buffer.alloc(64, 0xff) }]) },
    { name: "no files", run: upload([]), status: 400 },
    { name: "not multipart", run: () => send(base, "POST", "/v1/checkpoints", { headers: { ...json(b) }, body: "{}" }), status: 415 },
    { name: "multipart without a boundary", run: () => send(base, "POST", "/v1/checkpoints", { headers: { ...b.auth, "content-type": "multipart/form-data" }, body: "x" }) },
    { name: "multipart cut off", run: () => send(base, "POST", "/v1/checkpoints", { headers: { ...b.auth, "content-type": "multipart/form-data; boundary=zz" }, body: '--zz\r\ncontent-disposition: form-data; name="f"; filename="config.json"\r\n\r\n{"a":' }) },
    { name: "calibration file that is not UTF-8", run: () => { const m = multipartOf([{ name: "c.txt", body: Buffer.from([0xff, 0xfe, 0xfd]) }]); return send(base, "POST", "/v1/files", { headers: { ...b.auth, "content-type": m.type }, body: m.body }); } },
  ],
  http: [
    { name: "unknown method FOO", run: raw("FOO /v1/jobs HTTP/1.1\r\nhost: x\r\n\r\n"), status: 400 },
    { name: "Content-Length with Transfer-Encoding", run: raw(`POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`), status: 400 },
    { name: "32 KiB of headers", run: raw(`GET /v1/jobs HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(32 * 1024)}\r\n\r\n`), status: 431 },
    { name: "binary garbage", run: () => rawRequest(base, [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a])]), status: 400 },
    { name: "two Content-Length headers", run: raw(`POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}`), status: 400 },
    { name: "bad chunk size", run: () => rawRequest(base, [`POST /v1/jobs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${b.key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`]), status: 400 },
    { name: "header with a space in its name", run: raw("GET /v1/jobs HTTP/1.1\r\nhost: x\r\nbad header: 1\r\n\r\n"), status: 400 },
    { name: "body of 10 bytes where 100 were declared (idle timeout)", run: () => rawRequest(base, [`POST /v1/jobs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${b.key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"source":`]), status: 408, withinMs: 4000 },
    { name: "headers that never end (headers timeout)", run: () => rawRequest(base, ["GET /v1/jobs HTTP/1.1\r\nhost: x\r\n"]), status: 408, withinMs: 4000 },
    { name: "a body trickled a byte at a time (request timeout)", run: () => rawRequest(base, [`POST /v1/jobs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${b.key}\r\ncontent-type: application/json\r\ncontent-length: 60\r\n\r\n`, ...Array.from({ length: 30 }, () => " ")], { pauseMs: 200, deadlineMs: 9000 }), status: 408, withinMs: 7000 },
  ],
};

describe("hostile input: 4xx problem+json in bounded time, nothing written", () => {
  before(setUp);
  after(async () => {
    console.log(`# hostile API cases: ${count}`);
    for (const close of closers.reverse()) await close();
  });
  for (const [group, cases] of Object.entries(CASES))
    describe(group, () => {
      for (const c of cases)
        it(c.name, async () => {
          // both apps share the database: the rows of A and B, and the local app's blob store
          const snap = await snapshot(app, [a.id, b.id]);
          const res = await c.run();
          count++;
          const where = `${c.name}: ${res.status} ${res.type} ${res.body.slice(0, 300)}`;
          assert.ok(res.status >= 400 && res.status < 500, `4xx expected: ${where}`);
          if (c.status) assert.equal(res.status, c.status, where);
          assert.match(res.type, /^application\/problem\+json/, where);
          const problem = JSON.parse(res.body) as { status: number; title: string; detail: string };
          assert.equal(problem.status, res.status, where);
          assert.ok(problem.detail, where);
          assert.ok(res.ms < (c.withinMs ?? 5000), `answered in ${res.ms} ms: ${where}`);
          // with a pause: a write in flight when the answer left would show now
          await new Promise((r) => setTimeout(r, 20));
          assert.deepEqual(await snapshot(app, [a.id, b.id]), snap, `nothing written: ${c.name}`);
        });
    });
});
