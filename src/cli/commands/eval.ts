// `maskforge eval <model-dir> --text <file> [--text-format auto|text|stories|wikitext|jsonl|parquet] [--text-field F]
// [--seq-len 256] [--batch-size N] [--json]`; --format is the older name of --text-format.
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { loadModelDir } from "../../checkpoint/load.js";
import { fileDocuments } from "../../checkpoint/dataset-formats.js";
import { evalWindows, tokenizeStream } from "../../checkpoint/text-dataset.js";
import { FORMAT_CHOICES, FORMAT_HELP, type FormatChoice } from "../../contract/datasets.js";
import { initBackend, type BackendChoice } from "../../maskllm/backend.js";
import { perplexity } from "../../maskllm/eval/perplexity.js";
import { disposeModel } from "../../maskllm/llama/model.js";
import { loadConfig } from "../../config.js";
import { BACKEND_OPTION, positiveInt } from "./generate.js";

export function register(program: Command): void {
  program
    .command("eval")
    .description("perplexity of a Hugging Face LLaMA folder on a text file (non-overlapping windows, BOS per document)")
    .argument("<model-dir>", "folder with config.json, safetensors weights and tokenizer.json")
    .requiredOption("--text <file>", "dataset file to evaluate on (text, JSONL or Parquet)")
    .addOption(new Option("--text-format <format>", `how the file is read: ${FORMAT_HELP}`).choices(FORMAT_CHOICES))
    .addOption(new Option("--format <format>", "the older name of --text-format").choices(FORMAT_CHOICES).hideHelp())
    .option("--text-field <name>", "the JSONL key or Parquet column to read (default text, else messages)")
    .option("--seq-len <n>", "window length in tokens", positiveInt("--seq-len"), 256)
    .option("--batch-size <n>", "windows per forward pass", positiveInt("--batch-size"), 8)
    .option("--max-windows <n>", "evaluate only the first n windows", positiveInt("--max-windows"))
    .option("--json", "print one JSON line instead of text")
    .addOption(BACKEND_OPTION())
    .action(async (dir: string, opts: { text: string; textFormat?: FormatChoice; format?: FormatChoice; textField?: string; seqLen: number; batchSize: number; maxWindows?: number; json?: boolean; backend?: BackendChoice }) => {
      if (opts.seqLen < 2) throw new Error("--seq-len must be at least 2");
      const backend = await initBackend(opts.backend ?? loadConfig().tfBackend);
      const { model, tokenizer } = await loadModelDir(resolve(dir));
      const bos = tokenizer.bosId ?? model.config.bosTokenId;
      if (opts.textFormat && opts.format && opts.textFormat !== opts.format) throw new Error("--format is the older name of --text-format; give one of them");
      const { docs } = await fileDocuments(resolve(opts.text), opts.textFormat ?? opts.format ?? "auto", tokenizer, opts.textField);
      const tokens = tokenizeStream(tokenizer, docs, { bos });
      let windows = evalWindows(tokens, opts.seqLen);
      if (opts.maxWindows !== undefined) windows = windows.slice(0, opts.maxWindows);
      if (windows.length === 0) throw new Error(`the text has ${tokens.length} tokens, fewer than one window of ${opts.seqLen}`);
      const r = perplexity(model, windows, {
        batchSize: opts.batchSize,
        onProgress: opts.json || !process.stderr.isTTY ? undefined : (d, t) => process.stderr.write(`\r${d}/${t} windows`),
      });
      disposeModel(model);
      if (!opts.json && process.stderr.isTTY) process.stderr.write("\n");
      const out = { perplexity: r.perplexity, tokens: r.tokens, windows: r.windows, seqLen: opts.seqLen, documents: docs.length, tokensPerSec: r.tokensPerSec, backend };
      if (opts.json) process.stdout.write(`${JSON.stringify(out)}\n`);
      else
        process.stdout.write(
          `perplexity ${r.perplexity.toFixed(4)} over ${r.tokens} predicted tokens (${r.windows} windows of ${opts.seqLen}, ${docs.length} documents); ` +
            `${r.tokensPerSec.toFixed(0)} tokens/s on ${backend}\n`,
        );
    });
}
