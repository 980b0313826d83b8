// Glue between commander and the client: usage errors exit 2, CliErrors exit with their own code after
// printing their message, anything unexpected exits 1 with its message (never a stack trace for a user error).
import { CommanderError, InvalidArgumentError, type Command } from "commander";
import { CliError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

/** Commander's own parse errors (unknown option, missing argument) exit 2 instead of 1; help still exits 0. */
export function usageExitCodes(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    throw new CommanderError(err.exitCode === 0 ? 0 : EXIT.usage, err.code, err.message);
  });
}

/** Wraps an action: its return value (or the error's exitCode) becomes the process exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (code) process.exitCode = code;
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`maskforge: ${err.message}\n`);
        process.exitCode = err.exitCode;
        return;
      }
      process.stderr.write(`maskforge: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT.failure;
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`);
}

/** A plain text table: columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : (c ?? "").padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Integer > 0 for commander's argParser; bad values are usage errors. */
export function positiveInteger(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${flag} must be a positive integer`);
    return Number(v);
  };
}
