// Runs before the test runner (npm test): makes sure the test database exists and carries every migration.
// Fast when already done: it only asks Postgres which migrations are applied, and runs Prisma only when
// one is missing.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const url = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/maskforge_test";
const dbName = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
if (!/^[A-Za-z0-9_]+$/.test(dbName)) throw new Error(`test database name must be [A-Za-z0-9_]+ (got ${JSON.stringify(dbName)})`);

async function withClient(database, fn) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot reach Postgres at ${u.host} (${err.message}); is it running?`);
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

await withClient("postgres", async (c) => {
  const { rowCount } = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [dbName]);
  if (rowCount === 0) {
    try {
      await c.query(`CREATE DATABASE "${dbName}"`);
      console.log(`test-setup: created database ${dbName}`);
    } catch (err) {
      if (err.code !== "42P04") throw err; // made meanwhile by a concurrent run
    }
  }
});

const wanted = readdirSync(join(root, "prisma", "migrations"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);
const applied = await withClient(dbName, async (c) => {
  const { rows } = await c.query("SELECT to_regclass('public._prisma_migrations') AS t");
  if (!rows[0].t) return new Set();
  const r = await c.query("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL");
  return new Set(r.rows.map((x) => x.migration_name));
});

if (wanted.some((m) => !applied.has(m))) {
  const r = spawnSync("npx", ["prisma", "migrate", "deploy"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, DATABASE_URL: url },
  });
  if (r.status !== 0) {
    console.error(`test-setup: prisma migrate deploy failed on ${dbName} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
