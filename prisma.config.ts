// Prisma 6.19 with the JS (WASM) schema engine, so migrations need no engine binary download.
// The adapter takes host/port/user/database, not a connection string: with a connection string
// `migrate dev` would use the main database as its shadow database.
import { PrismaPg } from "@prisma/adapter-pg";
import { defineConfig } from "prisma/config";
import { loadConfig } from "./src/config.js";

function pgOptions(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || "postgres"),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres",
  };
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => new PrismaPg(pgOptions(loadConfig().databaseUrl)),
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
