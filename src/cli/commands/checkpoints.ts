// `maskforge checkpoints upload|list|get`: put a Hugging Face model folder on the API (one streamed
// multipart request, constant memory) so jobs can name it as `source.checkpoint_id`.
import { readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Command } from "commander";
import type { CheckpointView } from "../../contract/api/components.js";
import type { ApiClient } from "../client/api-client.js";
import { action, positiveInteger, printJson, table, usageExitCodes } from "../client/command.js";
import { CliError } from "../client/errors.js";
import { EXIT } from "../client/exit-codes.js";
import { formatBytes, progressBoard } from "../client/progress.js";
import { addClientOptions, clientFlags, clientFrom } from "../client/settings.js";

/** The files of a model folder: regular, non-hidden files at its top level (HF folders are flat). */
export async function checkpointFiles(dir: string): Promise<Array<{ filename: string; path: string; bytes: number }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new CliError(`cannot read the folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.usage);
  }
  const files = [];
  for (const name of names.sort()) {
    if (name.startsWith(".")) continue;
    const s = await stat(join(dir, name));
    if (s.isFile()) files.push({ filename: name, path: join(dir, name), bytes: s.size });
  }
  if (!files.some((f) => f.filename === "config.json"))
    throw new CliError(`${dir} has no config.json: give a Hugging Face model folder (for a llama2.c .bin, convert it first with \`maskforge import-llama2c\`)`, EXIT.usage);
  return files;
}

/** Uploads a folder with a byte progress bar; waits until the API has checked it (status ready or invalid). */
export async function uploadCheckpointDir(client: ApiClient, dir: string, opts: { name?: string; quiet?: boolean; signal?: AbortSignal } = {}): Promise<CheckpointView> {
  const files = await checkpointFiles(dir);
  const board = progressBoard({ stream: process.stderr, tty: opts.quiet ? false : undefined, everyMs: 2000 });
  let ckpt: CheckpointView;
  try {
    ckpt = await client.uploadCheckpoint(files, {
      fields: opts.name ? { name: opts.name } : {},
      signal: opts.signal,
      onProgress: opts.quiet ? undefined : (sent, total) => board.set("upload", "upload", { fraction: sent / total, info: `sending ${formatBytes(sent)} of ${formatBytes(total)}` }),
    });
  } finally {
    board.stop();
  }
  // checking the headers may run after the upload answered: wait for the verdict before anyone submits a job on it
  for (let i = 0; ckpt.status === "uploading" && i < 600; i++) {
    await new Promise((r) => setTimeout(r, 500));
    ckpt = await client.getCheckpoint(ckpt.id);
  }
  if (ckpt.status === "invalid") throw new CliError(`the API rejected the checkpoint ${ckpt.id}: ${ckpt.error ?? "no reason given"}`, EXIT.failure);
  return ckpt;
}

export function register(program: Command): void {
  const cps = usageExitCodes(addClientOptions(new Command("checkpoints").description("upload and list model checkpoints on a maskforge API")));
  program.addCommand(cps);

  cps
    .command("upload")
    .description("upload a Hugging Face model folder (config.json, *.safetensors, tokenizer files); prints the checkpoint id")
    .argument("<dir>")
    .option("--name <name>", "a name to tell it apart in listings")
    .action(
      action(async (dir: string, opts: { name?: string }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const ckpt = await uploadCheckpointDir(clientFrom(flags), resolve(dir), { name: opts.name, quiet: flags.json });
        if (flags.json) return printJson(ckpt);
        process.stdout.write(`${ckpt.id}\n`);
      }),
    );

  cps
    .command("list")
    .description("your checkpoints, newest first")
    .option("--limit <n>", "per page", positiveInteger("--limit"), 20)
    .option("--cursor <cursor>", "the next page")
    .action(
      action(async (opts: { limit: number; cursor?: string }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const page = await clientFrom(flags).listCheckpoints(opts);
        if (flags.json) return printJson(page);
        const rows = page.items.map((c) => [c.id, c.status, formatBytes(c.bytes), c.architecture ?? "", c.createdAt]);
        process.stdout.write(`${table(["ID", "STATUS", "SIZE", "ARCHITECTURE", "CREATED"], rows)}\n`);
        if (page.nextCursor) process.stdout.write(`more: maskforge checkpoints list --cursor ${page.nextCursor}\n`);
      }),
    );

  cps
    .command("get")
    .description("one checkpoint: status and files")
    .argument("<id>")
    .action(
      action(async (id: string, _opts: object, cmd: Command) => {
        const flags = clientFlags(cmd);
        const c = await clientFrom(flags).getCheckpoint(id);
        if (flags.json) return printJson(c);
        process.stdout.write(`checkpoint ${c.id}  ${c.status}${c.error ? `: ${c.error}` : ""}\n`);
        for (const f of c.files) process.stdout.write(`  ${f.name.padEnd(28)} ${formatBytes(f.bytes)}\n`);
      }),
    );
}
