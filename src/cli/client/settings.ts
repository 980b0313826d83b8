// Where the client commands find the API and the key: flags first, then MASKFORGE_API_URL /
// MASKFORGE_API_KEY through src/config.ts (the one reader of the environment).
import type { Command } from "commander";
import { loadConfig, ConfigError } from "../../config.js";
import { ApiClient } from "./api-client.js";
import { CliError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

export interface ClientFlags {
  apiUrl?: string;
  apiKey?: string;
  json?: boolean;
}

/** Adds the flags every client command shares; commander also accepts them after the subcommand. */
export function addClientOptions(cmd: Command): Command {
  return cmd
    .option("--api-url <url>", "maskforge API base URL (default: MASKFORGE_API_URL or http://127.0.0.1:3000)")
    .option("--api-key <key>", "API key mf_... (default: MASKFORGE_API_KEY)")
    .option("--json", "print JSON (one document per command) instead of text");
}

export function clientFlags(cmd: Command): ClientFlags {
  return cmd.optsWithGlobals() as ClientFlags;
}

export function clientFrom(flags: ClientFlags): ApiClient {
  let fromEnv: { apiUrl: string; apiKey?: string };
  try {
    fromEnv = loadConfig().client;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
  const apiUrl = flags.apiUrl ?? fromEnv.apiUrl;
  if (!/^https?:\/\/[^/]/.test(apiUrl)) throw new CliError(`--api-url must be an http(s) URL, got ${JSON.stringify(apiUrl)}`, EXIT.usage);
  return new ApiClient({ apiUrl, apiKey: flags.apiKey ?? fromEnv.apiKey });
}
