// `maskforge import-llama2c <model.bin> --tokenizer <tok.model|tokenizer.bin> --out <dir>`
import { resolve } from "node:path";
import type { Command } from "commander";
import { importLlama2c } from "../../checkpoint/llama2c.js";

export function register(program: Command): void {
  program
    .command("import-llama2c")
    .description("convert a llama2.c checkpoint (legacy .bin) and its tokenizer into a Hugging Face LLaMA folder")
    .argument("<model.bin>", "llama2.c checkpoint")
    .requiredOption("--tokenizer <file>", "SentencePiece tokenizer .model, or llama2.c's tokenizer.bin")
    .requiredOption("--out <dir>", "output folder (config.json, model.safetensors, tokenizer.json, ...)")
    .action(async (modelPath: string, opts: { tokenizer: string; out: string }) => {
      const { config, files } = await importLlama2c({ modelPath: resolve(modelPath), tokenizerPath: resolve(opts.tokenizer), outDir: resolve(opts.out) });
      process.stdout.write(
        `wrote ${files.join(", ")} to ${opts.out}: ${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, ` +
          `${config.numAttentionHeads} heads (${config.numKeyValueHeads} kv), vocab ${config.vocabSize}\n`,
      );
    });
}
