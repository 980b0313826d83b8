import type { Command } from "commander";
import { register as prune } from "./prune.js";
import { register as importLlama2c } from "./import-llama2c.js";
import { register as generate } from "./generate.js";
import { register as evalCmd } from "./eval.js";
import { register as keys } from "./keys.js";
import { register as jobs } from "./jobs.js";
import { register as checkpoints } from "./checkpoints.js";
import { register as masks } from "./masks.js";
import { register as worker } from "./worker.js";
import { register as serve } from "./serve.js";

/** Every CLI command module; add one line per command file. */
export const commands: Array<(program: Command) => void> = [prune, importLlama2c, generate, evalCmd, jobs, checkpoints, masks, keys, worker, serve];
