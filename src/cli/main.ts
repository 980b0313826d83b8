// `maskforge` command line. Each command lives in src/cli/commands/<name>.ts and exports `register(program)`.
import "../runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { Command, CommanderError } from "commander";
import { commandsFor } from "./commands/index.js";

const program = new Command("maskforge")
  .description("learned N:M sparsity (MaskLLM) for LLMs: local tools and a client of the maskforge API")
  .showHelpAfterError();

for (const register of await commandsFor(process.argv.slice(2))) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.stderr.write(`maskforge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
