// bench:oneshot-large: one-shot 2:4 (Wanda, SparseGPT's mask) of a TinyLlama-1.1B-shaped model on this machine, from
// bf16 sharded safetensors as the Hub ships them, layer by layer (src/checkpoint/prune-streaming.ts): 32 windows ×
// 512 calibration tokens, one decoder layer's weights and the calibration activations resident. The weights are
// seeded random (no 1.1B checkpoint may be downloaded here) and the calibration ids random: speed and memory only.
// Each method runs in a child process so its peak RSS is its own; the pruned bf16 checkpoint is written and checked
// (every targeted weight exactly 2:4, the rest byte-identical), then removed unless --keep.
// Prints a table and one JSON line {"bench":"oneshot-large",...}. Targets (issue 15): peak RSS ≤ 6 GB, wall ≤ 30 min.
//   npm run bench:oneshot-large -- [--methods wanda,sparsegpt] [--layers 22] [--windows 32] [--seq 512]
//                                  [--threads 2] [--dir DIR] [--keep] [--native-off]
import "../src/runtime/relaxed-simd.mjs"; // first: before any kernel compiles
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LlamaConfig } from "../src/maskllm/llama/config.js";
import { expectedWeightShapes, LINEAR_SUFFIXES } from "../src/maskllm/llama/model.js";
import { parseHfConfig, toHfConfig } from "../src/checkpoint/hf-config.js";
import { writeCheckpoint, type TensorSpec } from "../src/checkpoint/safetensors/writer.js";
import { CheckpointReader } from "../src/checkpoint/safetensors/checkpoint.js";
import { mulberry32Bits } from "../src/maskllm/train/rng.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const int = (name: string, dflt: number) => {
  const v = Number(arg(name) ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const layers = int("layers", 22);
const windows = int("windows", 32);
const seq = int("seq", 512);
const threads = int("threads", 2);
const GB = 1e9, MiB = 1024 ** 2;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** TinyLlama-1.1B's config (its config.json), with --layers of its 22 layers. */
function tinyLlamaConfig(): LlamaConfig {
  return {
    architecture: "LlamaForCausalLM", vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numHiddenLayers: layers,
    numAttentionHeads: 32, numKeyValueHeads: 4, headDim: 64, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 2048,
    tieWordEmbeddings: false, attentionBias: false, bosTokenId: 1, eosTokenId: 2,
  };
}

/** Seeded random bf16 weights (U(−a, a), a = 1/√fan_in; norms near 1) written as ~1 GB shards with an index. */
async function buildModel(dir: string, config: LlamaConfig): Promise<void> {
  await mkdir(dir, { recursive: true });
  const shapes = expectedWeightShapes(config);
  const specs: TensorSpec[] = [...shapes].map(([name, shape]) => ({ name, dtype: "BF16", shape }));
  let seed = 1;
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  await writeCheckpoint(dir, specs, (spec) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const out = new Uint16Array(n);
    const bits = mulberry32Bits(seed++);
    const isNorm = spec.name.endsWith("norm.weight");
    const a = spec.name === "model.embed_tokens.weight" ? 0.02 : 1 / Math.sqrt(spec.shape[spec.shape.length - 1]);
    for (let i = 0; i < n; i++) {
      f[0] = isNorm ? 1 + (bits() / 4294967296 - 0.5) * 0.2 : (bits() / 2147483648 - 1) * a;
      out[i] = u[0] >>> 16;
    }
    return new Uint8Array(out.buffer);
  }, { maxShardBytes: 1e9, metadata: { format: "pt" } });
  await writeFile(join(dir, "config.json"), JSON.stringify(toHfConfig(config, { torch_dtype: "bfloat16" }), null, 2));
}

/** Useful work of a run in flops: dense pass (no down_proj), Hessians (symmetric halves), pruned pass. */
function workFlops(c: LlamaConfig, method: string): number {
  const d = c.hiddenSize, qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim, f = c.intermediateSize;
  const tokens = windows * seq;
  const attention = 2 * seq * qd; // causal: QKᵀ and AV over seq/2 positions on average
  const dense = 2 * (qd * d + 2 * kvd * d + d * qd + 2 * f * d) + attention;
  const pruned = dense + 2 * d * f;
  const hessians = method === "sparsegpt" ? 3 * d * d + f * f : 0; // XᵀX symmetric: n² flops a token per input
  return tokens * (c.numHiddenLayers * (dense + hessians) + (c.numHiddenLayers - 1) * pruned);
}

async function child(): Promise<void> {
  const { initBackend } = await import("../src/maskllm/backend.js");
  const { OpPool } = await import("../src/parallel/op-pool.js");
  const { InlineExecutor } = await import("../src/maskllm/host/ops.js");
  const { pruneCheckpointStreaming } = await import("../src/checkpoint/prune-streaming.js");
  const { verifyNMMask } = await import("../src/maskllm/mask/verify.js");
  const method = arg("method") as "wanda" | "sparsegpt" | "magnitude";
  const dir = arg("model")!, out = arg("out")!;
  const result: Record<string, unknown> = { method };
  await initBackend("wasm");
  // the products on the native GEMM where it loads (as jobs and the CLI run them), or wasm with --native-off
  const { useNativeKernels } = await import("../src/native/kernels.js");
  result.kernels = useNativeKernels(process.argv.includes("--native-off") ? "off" : "auto").kernels;
  const pool = threads > 1 ? await OpPool.start(threads) : undefined;
  try {
    const config = parseHfConfig(JSON.parse(await readFile(join(dir, "config.json"), "utf8")));
    let s = 7;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    const calib = Array.from({ length: windows }, () => Int32Array.from({ length: seq }, (_, i) => (i === 0 ? 1 : next() % config.vocabSize)));
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    const t0 = performance.now();
    let checked = 0;
    const { files, report } = await pruneCheckpointStreaming(dir, out, config, calib, {
      method, pattern: { n: 2, m: 4 }, executor: pool ?? new InlineExecutor(), windowsPerBatch: 8,
      onProgress: (p) => { if (p.phase === "calibrate") log(`  [${method}] layer ${p.layer + 1}/${p.layers} at ${((performance.now() - t0) / 1000).toFixed(0)} s, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`); },
      onLayer: (l) => void (checked += l.masks.size),
    });
    result.seconds = (performance.now() - t0) / 1000;
    result.peakRssMiB = process.resourceUsage().maxRSS / 1024;
    result.files = files.length;
    result.sparsity = report.sparsity;
    result.allVerified = report.allVerified && checked === config.numHiddenLayers * LINEAR_SUFFIXES.length;
    // the written checkpoint: targeted weights are exactly 2:4 after the bf16 round trip, the rest is the source's
    const src = await CheckpointReader.open(dir), dst = await CheckpointReader.open(out);
    try {
      const probe = ["model.embed_tokens.weight", "model.norm.weight", `model.layers.${config.numHiddenLayers - 1}.input_layernorm.weight`];
      for (const name of probe) result.copiedIdentical = (result.copiedIdentical ?? true) && Buffer.from((await src.readBytes(name)).bytes).equals(Buffer.from((await dst.readBytes(name)).bytes));
      const name = `model.layers.${config.numHiddenLayers - 1}.mlp.down_proj.weight`;
      const e = await dst.entry(name);
      const w = (await dst.readFloat32(name)).values;
      const mask = Uint8Array.from(w, (v) => (v !== 0 ? 1 : 0));
      result.writtenDtype = e.dtype;
      result.writtenTwoFour = verifyNMMask(mask, e.shape[0], e.shape[1], { n: 2, m: 4 }).ok || undefined;
    } finally {
      await src.close();
      await dst.close();
    }
  } catch (err) {
    result.error = (err as Error).stack ?? String(err);
  } finally {
    await pool?.close();
    if (!process.argv.includes("--keep")) await rm(out, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ oneshotChild: result })}\n`);
}

async function main(): Promise<void> {
  const config = tinyLlamaConfig();
  const dir = arg("dir") ?? join(tmpdir(), `maskforge-bench-tinyllama-${layers}L-bf16`);
  if (!existsSync(join(dir, "config.json"))) {
    const t = performance.now();
    log(`building the seeded random bf16 checkpoint (${layers} layers) in the temp folder...`);
    await buildModel(dir, config);
    log(`  built in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  const methods = (arg("methods") ?? "wanda,sparsegpt").split(",");
  const rows: Record<string, unknown>[] = [];
  for (const method of methods) {
    log(`${method}: ${windows} windows × ${seq} tokens, ${threads} threads`);
    const childArgs = ["--import", "tsx", fileURLToPath(import.meta.url), "--child", "--method", method, "--model", dir, "--out", `${dir}-pruned-${method}`, "--layers", String(layers), "--windows", String(windows), "--seq", String(seq), "--threads", String(threads), ...(process.argv.includes("--keep") ? ["--keep"] : []), ...(process.argv.includes("--native-off") ? ["--native-off"] : [])];
    const line = await new Promise<string>((resolve) => {
      const p = spawn(process.execPath, childArgs, { stdio: ["ignore", "pipe", "inherit"] });
      let outText = "";
      p.stdout.on("data", (b) => (outText += b));
      p.on("close", (code, signal) => resolve(outText.split("\n").find((l) => l.startsWith('{"oneshotChild"')) ?? JSON.stringify({ oneshotChild: { method, error: `child exited ${code ?? signal}` } })));
    });
    const r = JSON.parse(line).oneshotChild as Record<string, unknown>;
    if (typeof r.seconds === "number") r.gflops = workFlops(config, method) / r.seconds / 1e9;
    r.workTflop = workFlops(config, method) / 1e12;
    rows.push(r);
    if (r.error) log(`  ${method} failed: ${r.error}`);
  }
  const params = [...expectedWeightShapes(config).values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
  console.log(`\none-shot 2:4, layer by layer, ${(params / 1e9).toFixed(2)}B params (TinyLlama shape, ${layers} layers), bf16 shards, ${windows}×${seq} calibration tokens, ${threads} threads`);
  console.log("| method | products on | wall | peak RSS | work | rate | sparsity | every target 2:4 | ≤ 30 min | ≤ 6 GB |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    if (r.error) { console.log(`| ${r.method} | ${r.kernels ?? ""} | failed | | | | | | | |`); continue; }
    const s = r.seconds as number, rss = (r.peakRssMiB as number) * MiB;
    console.log(`| ${r.method} | ${r.kernels} | ${(s / 60).toFixed(1)} min | ${(rss / GB).toFixed(2)} GB | ${(r.workTflop as number).toFixed(1)} TFLOP | ${(r.gflops as number).toFixed(1)} GFLOP/s | ${((r.sparsity as number) * 100).toFixed(2)}% | ${r.allVerified && r.writtenTwoFour && r.copiedIdentical ? "yes" : "NO"} | ${s <= 1800 ? "yes" : "no"} | ${rss <= 6 * GB ? "yes" : "no"} |`);
  }
  console.log(JSON.stringify({ bench: "oneshot-large", params, layers, windows, seq, threads, results: rows }));
  if (!arg("dir") && !process.argv.includes("--keep")) await rm(dir, { recursive: true, force: true });
}

if (process.argv.includes("--child")) await child();
else await main();
