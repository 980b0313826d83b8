// `npm run bench:api`: autocannon against GET /v1/jobs/:id (auth, rate limit, Postgres, Redis queue position)
// on an API in a child process, and in the same run against a bare Fastify route in another child process on
// the same machine. Prints req/s and p50/p99 of both (goals: at least half the bare route's req/s, p99 under
// 20 ms) and one JSON line. BENCH_SECONDS (default 10) and BENCH_CONNECTIONS (default 10) tune the runs.
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import autocannon from "autocannon";
import { createJob } from "../src/db/jobs.repository.js";
import { createPrisma } from "../src/db/client.js";
import { parseJobSpec } from "../src/contract/job-spec/parse.js";
import { benchTenant, DATABASE_URL, freePort, startApi } from "./api-child.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

async function run(url: string, headers: Record<string, string> = {}, duration = seconds) {
  const r = await autocannon({ url, headers, duration, connections });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return { reqPerS: Math.round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

const bareServer = `
  const app = require(${JSON.stringify(new URL("../node_modules/fastify/fastify.js", import.meta.url).pathname)})({ logger: false });
  app.get("/bare", async () => ({ id: "00000000-0000-0000-0000-000000000000", status: "queued", progress: 0 }));
  app.listen({ host: "127.0.0.1", port: Number(process.argv[1]) }).then(() => console.log("ready"));`;

const api = await startApi({ RATE_LIMIT_PER_MINUTE: String(1e9) });
const tenant = await benchTenant();
const prisma = createPrisma(DATABASE_URL);
const barePort = await freePort();
const bare = spawn(process.execPath, ["-e", bareServer, String(barePort)], { stdio: ["ignore", "pipe", "inherit"] });
try {
  await new Promise((r) => bare.stdout!.once("data", r));
  const parsed = parseJobSpec({ source: { hf: { repo: "stories/260k" } }, method: "wanda" });
  if (!parsed.ok) throw new Error("bad bench spec");
  const { job } = await createJob(prisma, tenant.tenantId, parsed.spec);
  const url = `${api.base}/v1/jobs/${job.id}`;
  const auth = { authorization: `Bearer ${tenant.key}` };
  await run(url, auth, 2); // warm-up (JIT, connection pools), not measured
  const jobs = await run(url, auth);
  const bareRes = await run(`http://127.0.0.1:${barePort}/bare`);
  const ratio = jobs.reqPerS / bareRes.reqPerS;
  console.log(`GET /v1/jobs/:id  ${jobs.reqPerS} req/s  p50 ${jobs.p50Ms} ms  p99 ${jobs.p99Ms} ms`);
  console.log(`bare Fastify      ${bareRes.reqPerS} req/s  p50 ${bareRes.p50Ms} ms  p99 ${bareRes.p99Ms} ms`);
  console.log(`ratio ${ratio.toFixed(2)} (goal >= 0.5), p99 goal < 20 ms`);
  // other processes on the machine skew both figures: the 1-minute load average against the core count says how much
  const load = { loadAvg1m: Number(loadavg()[0].toFixed(2)), cores: cpus().length };
  console.log(`load average ${load.loadAvg1m} on ${load.cores} cores`);
  console.log(JSON.stringify({ bench: "api", seconds, connections, jobs, bare: bareRes, ratio: Number(ratio.toFixed(3)), goalMet: ratio >= 0.5 && jobs.p99Ms < 20, ...load }));
} finally {
  bare.kill();
  await prisma.$disconnect();
  await tenant.cleanup();
  await api.stop();
}
