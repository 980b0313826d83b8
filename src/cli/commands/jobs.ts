// `maskforge jobs create|list|get|watch|cancel|download`: the job half of the API from the command line.
// Exit codes: 0 ok, 1 failure, 2 usage, 3 the job failed or was cancelled, 4 not found, 5 auth,
// 6 API unreachable, 7 conflict (src/cli/client/exit-codes.ts).
import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import { MASKS_DIR } from "../../checkpoint/export-sparse.js";
import type { ArtifactView, JobView } from "../../contract/api/components.js";
import { builtinRef, CALIBRATION_BUILTINS } from "../../contract/datasets.js";
import { EXPORT_FORMATS, METHODS, PRIOR_METHODS } from "../../contract/job-spec/schema.js";
import { JOB_STATUSES } from "../../contract/status.js";
import type { ApiClient } from "../client/api-client.js";
import { action, positiveInteger, printJson, table, usageExitCodes } from "../client/command.js";
import { CliError } from "../client/errors.js";
import { EXIT } from "../client/exit-codes.js";
import { followJobs } from "../client/follow.js";
import { jobLabel, jobSummary } from "../client/job-format.js";
import { buildJobBody, type SpecFlags } from "../client/job-spec-input.js";
import { formatBytes, progressBoard } from "../client/progress.js";
import { addClientOptions, clientFlags, clientFrom } from "../client/settings.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Follows jobs to their end on stderr; resolves with the exit code (3 if any did not succeed). */
export async function watchToEnd(client: ApiClient, jobs: JobView[], json: boolean): Promise<{ code: number; jobs: JobView[] }> {
  const board = progressBoard({ stream: process.stderr, tty: json ? false : undefined });
  const ac = new AbortController();
  // Ctrl-C stops watching (the job goes on; `jobs cancel` stops it) and restores the cursor cli-progress hid
  const onSigint = () => ac.abort(new CliError("stopped watching; the job goes on (`maskforge jobs cancel <id>` stops it)", EXIT.interrupted));
  process.once("SIGINT", onSigint);
  try {
    const done = await followJobs(client, jobs, board, { signal: ac.signal, events: !json });
    return { code: done.every((j) => j.status === "succeeded") ? EXIT.ok : EXIT.jobFailed, jobs: done };
  } finally {
    board.stop();
    process.off("SIGINT", onSigint);
  }
}

export function register(program: Command): void {
  const jobs = usageExitCodes(addClientOptions(new Command("jobs").description("submit, follow and fetch pruning jobs on a maskforge API")));
  program.addCommand(jobs);

  jobs
    .command("create")
    .description("submit a job from a spec file (jobs/*.json) and/or flags; prints its id")
    .option("-f, --file <spec.json>", "job spec (POST /v1/jobs body); flags below override its fields")
    .option("--checkpoint <id>", "source: an uploaded checkpoint (see `maskforge checkpoints upload`)")
    .option("--hf <repo[@revision]>", "source: a Hugging Face Hub repo")
    .option("--url <https-url>", "source: a .tar(.gz) or a folder URL")
    .addOption(new Option("--method <method>").choices([...METHODS]))
    .option("--pattern <N:M>", "sparsity pattern, e.g. 2:4")
    .option("--prior <prior>", `MaskLLM prior: ${PRIOR_METHODS.join(", ")} or a mask id (transfer)`)
    .option("--steps <n>", "MaskLLM training steps", positiveInteger("--steps"))
    .option("--batch-size <n>", "MaskLLM sequences per step", positiveInteger("--batch-size"))
    .option("--samples <n>", "calibration sequences", positiveInteger("--samples"))
    .option("--seq-len <n>", "tokens per calibration/training sequence", positiveInteger("--seq-len"))
    .option("--calibration <dataset>", [...CALIBRATION_BUILTINS.map(builtinRef), "file:<id>", "https URL"].join(" | "))
    .option("--eval <dataset>", "perplexity dataset (repeat for several)", collect)
    .addOption(new Option("--export <format>", "artifact format (repeat for several)").choices([...EXPORT_FORMATS]).argParser(collect))
    .option("--name <name>", "metadata.name")
    .option("--tag <tag>", "metadata.tags (repeat for several)", collect)
    .option("--idempotency-key <key>", "resubmitting with the same key returns the first job instead of a second one")
    .option("--dry-run", "print the request body and exit without submitting")
    .option("--watch", "follow the job to its end (exit 3 if it does not succeed)")
    .action(
      action(async (opts: SpecFlags & { idempotencyKey?: string; dryRun?: boolean; watch?: boolean }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const body = await buildJobBody({ ...opts, file: opts.file ? resolve(opts.file) : undefined });
        if (opts.dryRun) return printJson(body);
        const client = clientFrom(flags);
        const job = await client.createJob(body, { idempotencyKey: opts.idempotencyKey });
        if (!opts.watch) {
          if (flags.json) printJson(job);
          else process.stdout.write(`${job.id}\n`);
          return;
        }
        process.stderr.write(`submitted job ${job.id} (${jobLabel(job)})\n`);
        const r = await watchToEnd(client, [job], Boolean(flags.json));
        if (flags.json) printJson(r.jobs[0]);
        else process.stdout.write(`${jobSummary(r.jobs[0]).join("\n")}\n`);
        return r.code;
      }),
    );

  jobs
    .command("list")
    .description("your jobs, newest first")
    .addOption(new Option("--status <status>").choices([...JOB_STATUSES]))
    .option("--limit <n>", "jobs per page", positiveInteger("--limit"), 20)
    .option("--cursor <cursor>", "the next page (printed under the table)")
    .action(
      action(async (opts: { status?: string; limit: number; cursor?: string }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const page = await clientFrom(flags).listJobs({ status: opts.status, limit: opts.limit, cursor: opts.cursor });
        if (flags.json) return printJson(page);
        const rows = page.items.map((j) => [j.id, j.status, j.stage ?? "", `${Math.round(j.progress * 100)}%`, j.spec.method, j.spec.pattern, j.createdAt, jobLabel(j)]);
        process.stdout.write(`${table(["ID", "STATUS", "STAGE", "DONE", "METHOD", "N:M", "CREATED", "NAME"], rows)}\n`);
        if (page.nextCursor) process.stdout.write(`more: maskforge jobs list --cursor ${page.nextCursor}\n`);
      }),
    );

  jobs
    .command("get")
    .description("one job: status, stage, progress, perplexities, error")
    .argument("<id>")
    .action(
      action(async (id: string, _opts: object, cmd: Command) => {
        const flags = clientFlags(cmd);
        const job = await clientFrom(flags).getJob(id);
        if (flags.json) return printJson(job);
        process.stdout.write(`${jobSummary(job).join("\n")}\n`);
      }),
    );

  jobs
    .command("watch")
    .description("follow a job live until it ends (exit 0 succeeded, 3 failed or cancelled); Ctrl-C stops watching, not the job")
    .argument("<id...>", "one or more job ids")
    .action(
      action(async (ids: string[], _opts: object, cmd: Command) => {
        const flags = clientFlags(cmd);
        const client = clientFrom(flags);
        const first = await Promise.all(ids.map((id) => client.getJob(id)));
        const r = await watchToEnd(client, first, Boolean(flags.json));
        if (flags.json) printJson(ids.length === 1 ? r.jobs[0] : r.jobs);
        else process.stdout.write(`${r.jobs.map((j) => jobSummary(j).join("\n")).join("\n")}\n`);
        return r.code;
      }),
    );

  jobs
    .command("cancel")
    .description("cancel a queued job at once, or ask a running one to stop at its next check")
    .argument("<id>")
    .action(
      action(async (id: string, _opts: object, cmd: Command) => {
        const flags = clientFlags(cmd);
        const r = await clientFrom(flags).cancelJob(id);
        if (flags.json) return printJson(r);
        process.stdout.write(r.outcome === "cancelled" ? `job ${id} cancelled\n` : `job ${id}: cancel requested; it stops at its next check (\`maskforge jobs watch ${id}\` follows it)\n`);
      }),
    );

  jobs
    .command("download")
    .description("save a job's artifacts (pruned model, masks, logits, report) into a folder")
    .argument("<id>")
    .option("-o, --out <dir>", "target folder (a subfolder per job)", "maskforge-downloads")
    .option("--kind <kind>", "only this artifact kind: model, model_file, mask_npz, mask_logits, report, snapshot (repeat for several)", collect)
    .action(
      action(async (id: string, opts: { out: string; kind?: string[] }, cmd: Command) => {
        const flags = clientFlags(cmd);
        const client = clientFrom(flags);
        const all = await client.jobArtifacts(id);
        const wanted = all.filter((a) => (opts.kind ? opts.kind.includes(a.kind) : a.kind !== "snapshot"));
        if (wanted.length === 0) throw new CliError(`job ${id} has no ${opts.kind ? opts.kind.join("/") + " " : ""}artifacts${all.length ? ` (it has: ${[...new Set(all.map((a) => a.kind))].join(", ")})` : " yet: is it finished? see `maskforge jobs get " + id + "`"}`, EXIT.notFound);
        const dir = resolve(opts.out, id);
        const saved = await downloadArtifacts(client, wanted, dir, Boolean(flags.json));
        if (flags.json) return printJson(saved);
        process.stdout.write(`${table(["KIND", "BYTES", "PATH"], saved.map((s) => [s.kind, formatBytes(s.bytes), s.path]))}\n`);
      }),
    );
}

export async function downloadArtifacts(client: ApiClient, artifacts: ArtifactView[], dir: string, quiet: boolean): Promise<Array<{ id: string; kind: string; bytes: number; path: string }>> {
  const board = progressBoard({ stream: process.stderr, tty: quiet ? false : undefined });
  const out: Array<{ id: string; kind: string; bytes: number; path: string }> = [];
  try {
    for (const a of artifacts) {
      // names come from the server: keep only the last path segment so nothing lands outside `dir`
      const name = a.name.split(/[\\/]/).pop() || a.id;
      // the learned logits go where `maskforge prune` puts them, out of the model folder loaders read
      const path = a.kind === "mask_logits" ? join(dir, MASKS_DIR, name) : join(dir, name);
      const r = await client.download(a.downloadUrl, path, {
        onProgress: quiet ? undefined : (got, total) => board.set(a.id, name, { fraction: total ? got / total : 0, info: `${formatBytes(got)}${total ? ` of ${formatBytes(total)}` : ""}` }),
      });
      out.push({ id: a.id, kind: a.kind, bytes: r.bytes, path: r.path });
    }
  } finally {
    board.stop();
  }
  return out;
}
