import type { Command } from "commander";

/** Every CLI command module; add one line per command file. */
export const commands: Array<(program: Command) => void> = [];
