// A Prisma client on the test database and a throw-away tenant per test file, removed (with its jobs and
// events, by cascade) when the file ends.
import { after } from "node:test";
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "@prisma/client";
import { createPrisma } from "../../src/db/client.js";
import { parseJobSpec } from "../../src/contract/job-spec/parse.js";
import type { JobSpec } from "../../src/contract/job-spec/schema.js";
import { testConfig } from "./config.js";

export function testDb(): { prisma: PrismaClient; tenant: () => Promise<string> } {
  const prisma = createPrisma(testConfig().databaseUrl, { maxConnections: 8 });
  const tenants: string[] = [];
  after(async () => {
    if (tenants.length > 0) await prisma.tenant.deleteMany({ where: { id: { in: tenants } } });
    await prisma.$disconnect();
  });
  return {
    prisma,
    tenant: async () => {
      const t = await prisma.tenant.create({ data: { name: `test-${randomUUID()}` } });
      tenants.push(t.id);
      return t.id;
    },
  };
}

/** A valid resolved spec (a Hub source, so it needs no checkpoint row). */
export function spec(overrides: Record<string, unknown> = {}): JobSpec {
  const r = parseJobSpec({ source: { hf: { repo: "stories/260k", token: "hf_secret" } }, training: { steps: 10 }, ...overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.spec;
}
