// A HF model folder → LlamaModel on the current TF backend, its tokenizer and config.json. Every tensor the config
// requires is checked (name and shape) before anything is allocated on the backend.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { LlamaConfig } from "../maskllm/llama/config.js";
import type { LlamaModel } from "../maskllm/llama/model.js";
import { expectedWeightShapes } from "../maskllm/llama/model.js";
import { CheckpointError } from "./errors.js";
import { parseHfConfig } from "./hf-config.js";
import { CheckpointReader } from "./safetensors/checkpoint.js";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.js";

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: TextTokenizer;
  configJson: Record<string, unknown>;
}

export async function readConfigJson(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new CheckpointError("BAD_CONFIG", `cannot read config.json: ${(err as Error).message}`, undefined, dir);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CheckpointError("BAD_CONFIG", `not valid JSON: ${(err as Error).message}`, undefined, path);
  }
}

/**
 * Checks, from the headers alone, that the checkpoint holds every tensor the config implies, with that shape;
 * returns the number of parameters. `file` names the folder in the errors.
 */
export async function checkWeightShapes(reader: CheckpointReader, config: LlamaConfig, file?: string): Promise<number> {
  let params = 0;
  for (const [name, shape] of expectedWeightShapes(config)) {
    // tied checkpoints sometimes also ship lm_head; untied ones must have it
    if (!reader.has(name)) throw new CheckpointError("MISSING_TENSOR", `config.json (${config.architecture}, ${config.numHiddenLayers} layers) requires it, but the checkpoint lacks it`, name, file);
    const e = await reader.entry(name);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i]))
      throw new CheckpointError("WRONG_SHAPE", `has shape ${JSON.stringify(e.shape)}, config.json implies ${JSON.stringify(shape)}`, name, file);
    params += shape.reduce((a, b) => a * b, 1);
  }
  return params;
}

/** Loads weights (converted to float32) for the config in `dir`; extra tensors (rotary caches etc.) are ignored. */
export async function loadWeights(dir: string, configJson: Record<string, unknown>): Promise<LlamaModel> {
  const config = parseHfConfig(configJson, join(dir, "config.json"));
  const expected = expectedWeightShapes(config);
  const reader = await CheckpointReader.open(dir);
  const weights = new Map<string, tf.Tensor>();
  try {
    await checkWeightShapes(reader, config, dir);
    // one scratch buffer for the file bytes: tf.tensor copies each tensor onto the backend
    let largest = 0;
    for (const name of expected.keys()) largest = Math.max(largest, (await reader.entry(name)).byteLength);
    const scratch = new Uint8Array(largest);
    for (const [name, shape] of expected) {
      const { values } = await reader.readFloat32(name, scratch);
      weights.set(name, tf.tensor(values, shape, "float32"));
    }
  } catch (err) {
    for (const w of weights.values()) w.dispose();
    throw err;
  } finally {
    await reader.close();
  }
  return { config, weights };
}

export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const configJson = await readConfigJson(dir);
  const tokenizer = await loadTokenizer(dir);
  const model = await loadWeights(dir, configJson);
  return { model, tokenizer, configJson };
}
