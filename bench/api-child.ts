// Shared by the API benches: the API server in its own process (so its RSS and CPU are its own), on the test
// database with a fresh blob folder, and a tenant with a key.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiKey } from "../src/db/api-keys.js";
import { createPrisma } from "../src/db/client.js";

export const DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/maskforge_test";

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ApiChild {
  base: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startApi(env: Record<string, string> = {}): Promise<ApiChild> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "maskforge-bench-"));
  const child = spawn(process.execPath, ["--import", "tsx", "src/api/server.ts"], {
    env: { ...process.env, DATABASE_URL, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", LOCAL_STORAGE_DIR: dir, QUEUE_PREFIX: `bench-${port}`, ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    base,
    child,
    stop: async () => {
      await new Promise<void>((r) => {
        child.once("exit", () => r());
        child.kill("SIGTERM");
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function benchTenant(): Promise<{ key: string; tenantId: string; cleanup(): Promise<void> }> {
  const prisma = createPrisma(DATABASE_URL);
  const k = await createApiKey(prisma, `bench-${Date.now()}`);
  return {
    key: k.key,
    tenantId: k.tenantId,
    async cleanup() {
      await prisma.tenant.delete({ where: { id: k.tenantId } });
      await prisma.$disconnect();
    },
  };
}

/** Resident set size of a process, bytes (Linux). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}
