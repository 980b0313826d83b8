// `prisma generate` with the client engine still wants DATABASE_URL set: without it Prisma 6 tries to
// download a native query engine (no network here). The URL is only read, never connected to.
import { spawnSync } from "node:child_process";

const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/maskforge" };
const r = spawnSync("npx", ["prisma", "generate"], { stdio: "inherit", env });
process.exit(r.status ?? 1);
