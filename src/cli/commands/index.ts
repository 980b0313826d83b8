import type { Command } from "commander";

type Register = (program: Command) => void;

/**
 * Every CLI command module by its command name, loaded on demand: the local ML commands pull in TF.js, which
 * costs seconds, so `maskforge jobs list` loads only the API client. `--help` and unknown names load them all.
 */
export const commandModules: Record<string, () => Promise<{ register: Register }>> = {
  prune: () => import("./prune.js"),
  "import-llama2c": () => import("./import-llama2c.js"),
  generate: () => import("./generate.js"),
  eval: () => import("./eval.js"),
  jobs: () => import("./jobs.js"),
  checkpoints: () => import("./checkpoints.js"),
  masks: () => import("./masks.js"),
  keys: () => import("./keys.js"),
  worker: () => import("./worker.js"),
  serve: () => import("./serve.js"),
};

/** The register functions needed for this argv: only the named command's, or all of them. */
export async function commandsFor(argv: string[]): Promise<Register[]> {
  const name = argv.find((a) => !a.startsWith("-"));
  const loaders = name && commandModules[name] ? [commandModules[name]] : Object.values(commandModules);
  return (await Promise.all(loaders.map((load) => load()))).map((m) => m.register);
}
