// `maskforge generate <model-dir> [--prompt text] [--max-new-tokens 60]`: greedy decoding, prints the text.
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { loadModelDir } from "../../checkpoint/load.js";
import { initBackend, type BackendChoice } from "../../maskllm/backend.js";
import { greedyGenerate } from "../../maskllm/llama/generate.js";
import { disposeModel } from "../../maskllm/llama/model.js";
import { loadConfig } from "../../config.js";

export const BACKEND_OPTION = () =>
  new Option("--backend <name>", "TF.js backend (default: TF_BACKEND, else auto)").choices(["auto", "tensorflow", "wasm", "cpu", "webgpu"]);

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command("generate")
    .description("greedy text generation from a Hugging Face LLaMA folder")
    .argument("<model-dir>", "folder with config.json, safetensors weights and tokenizer.json")
    .option("--prompt <text>", "text to continue (BOS is always prepended)", "")
    .option("--max-new-tokens <n>", "tokens to generate", positiveInt("--max-new-tokens"), 60)
    .addOption(BACKEND_OPTION())
    .action(async (dir: string, opts: { prompt: string; maxNewTokens: number; backend?: BackendChoice }) => {
      await initBackend(opts.backend ?? loadConfig().tfBackend);
      const { model, tokenizer } = await loadModelDir(resolve(dir));
      const bos = tokenizer.bosId ?? model.config.bosTokenId;
      const prompt = [...(bos !== undefined ? [bos] : []), ...tokenizer.encode(opts.prompt)];
      if (prompt.length === 0) throw new Error("the tokenizer has no BOS token; give a --prompt");
      // stop on the tokenizer's EOS and on every id config.json lists (Llama 3's <|eot_id|> as well as <|end_of_text|>)
      const eos = [...(tokenizer.eosId !== undefined ? [tokenizer.eosId] : []), ...[model.config.eosTokenId ?? []].flat()];
      const ids = greedyGenerate(model, prompt, opts.maxNewTokens, { eosId: eos });
      const text = tokenizer.decode([...prompt.slice(bos !== undefined ? 1 : 0), ...ids]);
      disposeModel(model);
      process.stdout.write(`${text}\n`);
    });
}
