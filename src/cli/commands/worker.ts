// `maskforge worker`: the queue worker (same as `npm run worker`), configured from the environment like the API.
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("worker")
    .description("run a pruning worker: consumes the prune queue (WORKER_CONCURRENCY sandboxed processors), serves metrics on WORKER_METRICS_PORT")
    .action(async () => {
      // the module starts the worker when loaded and keeps the process alive until SIGTERM/SIGINT
      await import("../../worker/main.js");
    });
}
