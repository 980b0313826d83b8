// `maskforge keys create --tenant NAME [--name LABEL] [--json]`: makes an API key (and the tenant, if new) and
// prints it once; only its hash is stored, so a lost key is replaced, never recovered.
import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { createApiKey } from "../../db/api-keys.js";
import { createPrisma } from "../../db/client.js";

export function register(program: Command): void {
  const keys = program.command("keys").description("API keys of the maskforge service (uses DATABASE_URL)");
  keys
    .command("create")
    .description("create an API key for a tenant (created if it does not exist) and print it once")
    .requiredOption("--tenant <name>", "tenant name")
    .option("--name <label>", "label to tell keys apart", "default")
    .option("--json", "print one JSON line")
    .action(async (opts: { tenant: string; name: string; json?: boolean }) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$/.test(opts.tenant)) throw new Error("--tenant must be 1-100 characters of letters, digits, _ . @ -");
      const prisma = createPrisma(loadConfig().databaseUrl);
      try {
        const created = await createApiKey(prisma, opts.tenant, opts.name);
        if (opts.json) process.stdout.write(`${JSON.stringify({ key: created.key, keyId: created.keyId, tenantId: created.tenantId, tenant: created.tenantName })}\n`);
        else
          process.stdout.write(
            `API key for tenant ${created.tenantName} (${created.tenantId}):\n\n  ${created.key}\n\nStore it now: it is not shown again. Send it as "Authorization: Bearer <key>".\n`,
          );
      } finally {
        await prisma.$disconnect();
      }
    });
}
