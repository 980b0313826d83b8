// API entry point: load the config (exit 78 naming every bad key), listen, and on SIGTERM/SIGINT stop taking
// requests, let the in-flight ones finish and close every resource before exiting.
import { loadConfigOrExit } from "../config.js";
import { buildApp } from "./app.js";

const config = loadConfigOrExit();
const app = await buildApp(config);

let closing = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (closing) return;
  closing = true;
  app.log.info({ signal }, "shutting down");
  try {
    await app.close();
    process.exit(0);
  } catch (err) {
    app.log.error({ err }, "shutdown failed");
    process.exit(1);
  }
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));

try {
  await app.listen({ host: config.host, port: config.port });
} catch (err) {
  app.log.fatal({ err }, "could not listen");
  await app.close().catch(() => {});
  process.exit(1);
}
