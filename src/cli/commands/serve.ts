// `maskforge serve`: the HTTP API (same as `npm run dev`), configured from the environment.
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("serve")
    .description("run the HTTP API on HOST:PORT")
    .action(async () => {
      // the module listens when loaded and closes gracefully on SIGTERM/SIGINT
      await import("../../api/server.js");
    });
}
