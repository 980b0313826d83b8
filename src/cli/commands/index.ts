import type { Command } from "commander";
import { register as prune } from "./prune.js";

/** Every CLI command module; add one line per command file. */
export const commands: Array<(program: Command) => void> = [prune];
