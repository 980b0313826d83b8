// `maskforge masks list|download`: the mask catalogue (one entry per finished job's mask, with lineage for
// transfer) and its files: MaskLLM's bit-packed .npz and the learned logits.
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { action, positiveInteger, printJson, table, usageExitCodes } from "../client/command.js";
import { CliError } from "../client/errors.js";
import { EXIT } from "../client/exit-codes.js";
import { formatBytes, progressBoard } from "../client/progress.js";
import { addClientOptions, clientFlags, clientFrom } from "../client/settings.js";

const FORMATS = { npz: "mask_compressed.npz", logits: "mask_logits.safetensors" } as const;

export function register(program: Command): void {
  const masks = usageExitCodes(addClientOptions(new Command("masks").description("list and download learned N:M masks")));
  program.addCommand(masks);

  masks
    .command("list")
    .description("your masks, newest first")
    .option("--job <id>", "only the masks this job learned (within the page)")
    .option("--pattern <N:M>", "only masks of this pattern")
    .option("--limit <n>", "per page", positiveInteger("--limit"), 20)
    .option("--cursor <cursor>", "the next page")
    .action(
      action(async (opts: { job?: string; pattern?: string; limit: number; cursor?: string }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const page = await clientFrom(flags).listMasks({ pattern: opts.pattern, limit: opts.limit, cursor: opts.cursor });
        // the API filters by pattern only; a job's masks are picked out of the page here
        const items = page.items.filter((m) => !opts.job || m.lineage.jobId === opts.job);
        if (flags.json) return printJson({ ...page, items });
        const rows = items.map((m) => [m.id, m.pattern, m.method, m.formats.join(","), m.lineage.jobId ?? "", m.lineage.parentMaskId ?? "", m.createdAt]);
        process.stdout.write(`${table(["ID", "N:M", "METHOD", "FORMATS", "JOB", "PARENT", "CREATED"], rows)}\n`);
        if (page.nextCursor) process.stdout.write(`more: maskforge masks list --cursor ${page.nextCursor}\n`);
      }),
    );

  masks
    .command("download")
    .description("save a mask: the bit-packed .npz (MaskLLM's mask_compressed.npz) or the logits (.safetensors)")
    .argument("<id>")
    .addOption(new Option("--format <format>", "npz or logits").choices(Object.keys(FORMATS)).default("npz"))
    .option("-o, --out <file>", "target file (default: <id>-<name> in the current folder)")
    .action(
      action(async (id: string, opts: { format: keyof typeof FORMATS; out?: string }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const client = clientFrom(flags);
        const mask = await client.getMask(id);
        if (!mask.formats.includes(opts.format))
          throw new CliError(`mask ${id} has no ${opts.format} file (it has: ${mask.formats.join(", ") || "none"}; one-shot masks have no logits)`, EXIT.notFound);
        const href = `/v1/masks/${encodeURIComponent(id)}/download?format=${opts.format}`;
        const dest = resolve(opts.out ?? `${id}-${FORMATS[opts.format]}`);
        const board = progressBoard({ stream: process.stderr, tty: flags.json ? false : undefined });
        let r: { bytes: number; path: string };
        try {
          r = await client.download(href, dest, { onProgress: flags.json ? undefined : (got, total) => board.set(id, opts.format, { fraction: total ? got / total : 0, info: formatBytes(got) }) });
        } finally {
          board.stop();
        }
        if (flags.json) return printJson({ id, format: opts.format, ...r });
        process.stdout.write(`${r.path} (${formatBytes(r.bytes)})\n`);
      }),
    );
}
