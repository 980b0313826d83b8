// bench:scale: MaskLLM 2:4 training speed and memory at the llama2.c "stories" shapes (vocab 32000, seeded random
// weights, random token ids; batch 8 windows × 256 tokens = 2048 tokens a step, two micro-batches), against the
// PyTorch CPU yardstick of the same step (bench/yardstick/maskllm_step.py). Every maskforge measurement runs in a
// child process (bench/scale-child.ts): its peak RSS is its own, and a crash fails that shape only. Prints a table and
// one final JSON line {"bench":"scale",...}. Exits 0 when shapes fail (they are reported); non-zero on harness bugs.
//   npm run bench:scale -- [--shapes stories260K,stories15M] [--threads 1,2] [--steps N] [--warmup N]
//                          [--torch-steps N] [--torch-warmup N] [--no-torch] [--openblas DIR] [--shared ../shared]
//                          [--child-timeout-s 900] [--native auto|off] [--torch-malloc auto|glibc|FILE]
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FLOP_FORMULA, MEMORY_FORMULA, SHAPES, TOKENS_PER_STEP, VOCAB, SEQ, BATCH, effectiveGflops, memoryFormulaBytes, paramCounts,
  gemmReferenceGflops, savedActivationFloats, scaleConfig, shapeByName, type ScaleShape,
} from "./scale-model.js";

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = "/usr/bin/python3"; // Debian's python3-torch; a pyenv shim would not see it
const MiB = 1024 * 1024;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const optNum = (name: string): number | undefined => {
  const v = arg(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`);
  return n;
};
const shapes: ScaleShape[] = (arg("shapes") ?? SHAPES.map((s) => s.name).join(",")).split(",").map((s) => shapeByName(s.trim()));
const threadCounts = (arg("threads") ?? "1,2").split(",").map(Number);
if (threadCounts.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--threads takes positive integers, got ${arg("threads")}`);
const warmup = optNum("warmup") ?? 2;
const stepsFlag = optNum("steps");
const torchStepsFlag = optNum("torch-steps");
const torchWarmupFlag = optNum("torch-warmup");
const noTorch = process.argv.includes("--no-torch");
const shared = resolve(arg("shared") ?? "../shared");
const childTimeoutS = optNum("child-timeout-s") ?? 900;
// the host trainer's linear products: the native addon where it loads (src/native), or off: wasm
const native = arg("native") ?? "auto";
if (native !== "auto" && native !== "off") throw new Error(`--native takes auto or off, got ${native}`);
// PyTorch's allocator: auto preloads jemalloc where found (see findJemalloc), glibc keeps the default, or a library file.
const torchMalloc = arg("torch-malloc") ?? "auto";

// Defaults keep the whole bench near 15 minutes on 2 cores: more steps where a step is cheap.
const DEFAULT_STEPS: Record<string, { mf: number; torch: number; torchWarmup: number }> = {
  stories260K: { mf: 8, torch: 8, torchWarmup: 2 },
  stories15M: { mf: 3, torch: 3, torchWarmup: 1 },
  stories42M: { mf: 3, torch: 2, torchWarmup: 1 },
  stories110M: { mf: 3, torch: 2, torchWarmup: 1 },
  "llama-374M": { mf: 1, torch: 1, torchWarmup: 0 },
  "tinyllama-12L": { mf: 1, torch: 1, torchWarmup: 0 },
};

const log = (s: string) => process.stdout.write(`${s}\n`);
const fx = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));

interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  json?: Record<string, unknown>;
  stderrTail: string[];
  seconds: number;
}

/** Runs a process, forwarding its stderr (indented) and returning its last JSON stdout line under `key`. */
function runJson(cmd: string, args: string[], key: string, env: NodeJS.ProcessEnv, timeoutS: number): Promise<ProcResult> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const tail: string[] = [];
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => {
      const s = b.toString();
      process.stderr.write(s);
      tail.push(...s.split("\n").filter((l) => l.trim()));
      tail.splice(0, Math.max(0, tail.length - 20));
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let json: Record<string, unknown> | undefined;
      for (const line of stdout.split("\n").reverse()) {
        if (!line.startsWith("{")) continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (key in o) {
            json = (key === "yardstick" ? o : o[key]) as Record<string, unknown>;
            break;
          }
        } catch {
          // not our line
        }
      }
      done({ code, signal, json, stderrTail: tail, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

function failureMessage(r: ProcResult, timeoutS: number): string {
  if (r.json && typeof r.json.error === "string") return r.json.error;
  if (r.signal === "SIGKILL" && r.seconds >= timeoutS - 1) return `timed out after ${timeoutS} s`;
  const why = r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  const last = r.stderrTail.filter((l) => !l.trimStart().startsWith("[")).slice(-3).join(" | ");
  return `${why}${last ? `: ${last}` : " (no message)"}`;
}

// ---- PyTorch: which python, which BLAS ----------------------------------------------------------------------------

/** Debian's OpenBLAS libblas.so.3 (openmp first, then pthread): installed, or unpacked from the .deb (--openblas, <shared>/yardstick). */
function findOpenBlasDir(): { dir: string; flavour: string } | undefined {
  // --openblas may also name the folder that holds libblas.so.3 itself (what yardstick.md puts on LD_LIBRARY_PATH).
  const given = arg("openblas");
  if (given && existsSync(join(given, "libblas.so.3"))) return { dir: resolve(given), flavour: basename(resolve(given)) };
  const roots = ["/usr/lib/x86_64-linux-gnu", arg("openblas"), join(shared, "yardstick")].filter((r): r is string => !!r && existsSync(r));
  for (const flavour of ["openblas-openmp", "openblas-pthread"]) {
    for (const root of roots) {
      const found = findFile(resolve(root), flavour, "libblas.so.3", 6);
      if (found) return { dir: dirname(found), flavour };
    }
  }
  return undefined;
}

/**
 * jemalloc for the PyTorch runs, as PyTorch's CPU tuning guides advise: with glibc's malloc every step's large
 * tensors (the [2048, 32000] logits) are fresh mmaps, and their page faults took half of a step here (2M faults,
 * 11 s of system time in 24 s at stories260K; 7-10x slower steps). Installed (libjemalloc2) or unpacked beside
 * the OpenBLAS given to --openblas.
 */
function findJemalloc(blasDir: string | undefined): string | undefined {
  const dirs = ["/usr/lib/x86_64-linux-gnu", arg("openblas"), blasDir, blasDir && dirname(blasDir)];
  return dirs.filter((d): d is string => !!d).map((d) => join(resolve(d), "libjemalloc.so.2")).find((f) => existsSync(f));
}

function findFile(dir: string, parentName: string, file: string, depth: number): string | undefined {
  const direct = join(dir, parentName, file);
  if (existsSync(direct)) return direct;
  if (depth === 0) return undefined;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const p = join(dir, e);
    try {
      if (!statSync(p).isDirectory()) continue;
    } catch {
      continue;
    }
    const f = findFile(p, parentName, file, depth - 1);
    if (f) return f;
  }
  return undefined;
}

async function torchAvailable(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  return new Promise((done) => {
    const c = spawn(PYTHON, ["-c", "import torch"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (b: Buffer) => (err += b.toString()));
    c.on("error", (e) => done(e.message));
    c.on("close", (code) => done(code === 0 ? undefined : err.trim().split("\n").pop() || `exit code ${code}`));
  });
}

// ---- the runs -----------------------------------------------------------------------------------------------------

interface MfRun {
  threads: number;
  ok: boolean;
  /** what the linear products ran on: "wasm", or the native addon's tile */
  kernels?: string;
  error?: string;
  tokensPerSec?: number;
  gflops?: number;
  peakRssMiB?: number;
  /** the trainer's own estimate of its peak (host/memory.ts), what the worker checks a job against */
  estimateMiB?: number;
  measuredVsFormula?: number;
  steps?: number;
  stepSeconds?: number[];
  stepMsAllSteps?: unknown;
  /** our GEMM's one-thread GFLOP/s measured in the run's process right after its steps */
  gemmAfterGflops?: number;
  wallSeconds: number;
}
interface TorchRun {
  threads: number;
  ok: boolean;
  error?: string;
  tokensPerSec?: number;
  gflops?: number;
  stepSecondsMedian?: number;
  peakRssMiB?: number;
  blas?: string;
  blasLibs?: string[];
  malloc?: string;
  steps?: number;
  warmup?: number;
  wallSeconds: number;
}

/**
 * Our GEMM's single-thread rate on this shape, the yardstick of the per-core figure: the linear product
 * y [1024, out] = x·Wᵀ at every linear shape of a step (the masked linears and the lm_head), on the kernels the
 * trainer uses (native where it loads, else wasm), best of 3 each, as Σ flops / Σ time weighted by how often each
 * shape occurs in a step. Measured in this process between the children, so the same hour's speed.
 */
const benchT0 = performance.now();
const openblas = noTorch ? undefined : findOpenBlasDir();
if (!noTorch && arg("openblas") && !openblas)
  throw new Error(`--openblas ${arg("openblas")}: no libblas.so.3 there or under an openblas-openmp/openblas-pthread folder in it`);
const torchEnvBase: NodeJS.ProcessEnv = { ...process.env };
if (openblas) torchEnvBase.LD_LIBRARY_PATH = [openblas.dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
const mallocLib = noTorch || torchMalloc === "glibc" ? undefined : torchMalloc === "auto" ? findJemalloc(openblas?.dir) : resolve(torchMalloc);
if (mallocLib && !existsSync(mallocLib)) throw new Error(`--torch-malloc ${torchMalloc}: no such file`);
if (mallocLib) {
  torchEnvBase.LD_PRELOAD = [mallocLib, process.env.LD_PRELOAD].filter(Boolean).join(":");
  // jemalloc keeps freed pages (no decay back to the OS): the point is to stop paying page faults every step
  torchEnvBase.MALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
}
const torchMissing = noTorch ? "--no-torch" : await torchAvailable(torchEnvBase);
if (!noTorch && torchMissing)
  log(`PyTorch yardstick skipped: '${PYTHON} -c "import torch"' failed (${torchMissing}). Install it with: apt-get install -y python3-torch python3-numpy`);
if (!torchMissing && !mallocLib && torchMalloc === "auto")
  log("note: no jemalloc found (apt-get install -y libjemalloc2, or unpack it beside the OpenBLAS): PyTorch runs on glibc's malloc, whose page faults slow its steps several-fold at vocab 32000");
if (!torchMissing && !openblas)
  log("note: no Debian OpenBLAS found (apt-get install -y libopenblas0-openmp, or unpack it and pass --openblas DIR): PyTorch runs on whatever libblas.so.3 the system has");

log(`bench:scale, MaskLLM 2:4, vocab ${VOCAB}, batch ${BATCH}×${SEQ} = ${TOKENS_PER_STEP} tokens a step, 2 micro-batches; maskforge on wasm${native === "auto" ? " or the native addon where it loads" : ""} (one child process per run), warm-up ${warmup} steps; untied lm_head, rms eps 1e-5, RoPE θ 10000, weights N(0, 0.02) seeded, random token ids`);
log(`effective GFLOP/s = ${FLOP_FORMULA} / 1e9`);
log(`memory formula = ${MEMORY_FORMULA}; ratio = measured peak RSS / formula`);
if (!torchMissing) log(`PyTorch: ${PYTHON} bench/yardstick/maskllm_step.py, BLAS search: ${openblas ? `Debian ${openblas.flavour} (LD_LIBRARY_PATH)` : "system default"}, allocator: ${mallocLib ? `${basename(mallocLib)} (LD_PRELOAD)` : "glibc malloc"}`);

const rows: Record<string, unknown>[] = [];
for (const shape of shapes) {
  const config = scaleConfig(shape);
  const counts = paramCounts(config);
  const mem = memoryFormulaBytes(config);
  const d = DEFAULT_STEPS[shape.name];
  const mfSteps = stepsFlag ?? d.mf;
  const torchSteps = torchStepsFlag ?? d.torch;
  const torchWarmup = torchWarmupFlag ?? d.torchWarmup;
  log("");
  log(`== ${shape.name}: dim ${shape.dim}, ${shape.layers} layers, ${shape.heads} heads (${shape.kvHeads} kv), FFN ${shape.ffn}; masked ${(counts.masked / 1e6).toFixed(2)}M, lm_head ${(counts.lmHead / 1e6).toFixed(2)}M, embed ${(counts.embed / 1e6).toFixed(2)}M; saved activations ${(savedActivationFloats(config, TOKENS_PER_STEP) / 1e6).toFixed(1)}M floats; formula ${(mem.bytes / MiB).toFixed(0)} MiB (weights+logits+Adam ${(mem.weightsBytes / MiB).toFixed(0)}, activations ${(mem.activationBytes / MiB).toFixed(0)})`);
  const gemm = gemmReferenceGflops(shape, native);
  log(`-- our GEMM alone (${gemm.kernels}), one thread, y = x·Wᵀ at this shape's linears and lm_head, 1024 tokens: ${fx(gemm.gflops, 1)} GFLOP/s`);
  const mf: MfRun[] = [];
  for (const threads of threadCounts) {
    log(`-- maskforge ${shape.name}, ${threads} thread(s), ${warmup} warm-up + ${mfSteps} measured steps (median)`);
    const args = ["--import", "tsx", join(here, "scale-child.ts"), "--shape", shape.name, "--threads", String(threads), "--warmup", String(warmup), "--steps", String(mfSteps), "--native", native];
    const r = await runJson(process.execPath, args, "scaleChild", process.env, childTimeoutS);
    const j = r.json;
    if (r.code === 0 && j && typeof j.tokensPerSec === "number") {
      const rss = j.peakRssMiB as number;
      const run: MfRun = {
        threads, ok: true, kernels: j.kernels as string, tokensPerSec: j.tokensPerSec, gflops: effectiveGflops(counts, j.tokensPerSec), peakRssMiB: rss,
        measuredVsFormula: (rss * MiB) / mem.bytes, estimateMiB: j.estimateMiB as number, steps: mfSteps, stepSeconds: j.stepSeconds as number[], stepMsAllSteps: j.stepMsAllSteps, wallSeconds: r.seconds,
        gemmAfterGflops: j.gemmAfterGflops as number,
      };
      mf.push(run);
      log(`   ${fx(run.tokensPerSec)} tokens/s (median step ${fx(TOKENS_PER_STEP / run.tokensPerSec!, 2)} s) on ${String(j.kernels)}, ${fx(run.gflops, 2)} effective GFLOP/s (per core ${fx((100 * run.gflops!) / threads / gemm.gflops, 0)}% of the GEMM's one-thread rate above, ${fx((100 * run.gflops!) / threads / run.gemmAfterGflops!, 0)}% of its ${fx(run.gemmAfterGflops, 1)} GFLOP/s measured right after the steps), peak RSS ${fx(rss)} MiB vs formula ${(mem.bytes / MiB).toFixed(0)} MiB (ratio ${fx(run.measuredVsFormula, 2)}), vs the trainer's estimate ${fx(j.estimateMiB as number)} MiB (${fx(100 * (rss / (j.estimateMiB as number) - 1), 0)}%), child ${fx(r.seconds)} s`);
    } else {
      const error = failureMessage(r, childTimeoutS);
      mf.push({ threads, ok: false, error, peakRssMiB: j?.peakRssMiB as number | undefined, wallSeconds: r.seconds });
      log(`   FAILED: ${error}${j?.peakRssMiB ? ` (peak RSS ${fx(j.peakRssMiB as number)} MiB)` : ""}`);
    }
  }
  const torch: TorchRun[] = [];
  if (!torchMissing) {
    for (const threads of threadCounts) {
      log(`-- PyTorch ${shape.name}, ${threads} thread(s), ${torchWarmup} warm-up + ${torchSteps} measured steps (median)`);
      const args = [join(here, "yardstick", "maskllm_step.py"), "--dim", String(shape.dim), "--layers", String(shape.layers), "--heads", String(shape.heads), "--kv-heads", String(shape.kvHeads), "--ffn", String(shape.ffn), "--vocab", String(VOCAB), "--seq", String(SEQ), "--batch", String(BATCH), "--threads", String(threads), "--steps", String(torchSteps), "--warmup", String(torchWarmup)];
      const env = { ...torchEnvBase, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
      const r = await runJson(PYTHON, args, "yardstick", env, childTimeoutS);
      const j = r.json;
      if (r.code === 0 && j && typeof j.tokensPerSec === "number") {
        const run: TorchRun = {
          threads, ok: true, tokensPerSec: j.tokensPerSec, gflops: effectiveGflops(counts, j.tokensPerSec), stepSecondsMedian: j.stepSecondsMedian as number,
          peakRssMiB: j.peakRssMiB as number, blas: j.blas as string, blasLibs: j.blasLibs as string[], malloc: j.malloc as string, steps: torchSteps, warmup: torchWarmup, wallSeconds: r.seconds,
        };
        torch.push(run);
        log(`   ${fx(run.tokensPerSec)} tokens/s (median step ${fx(run.stepSecondsMedian, 2)} s), ${fx(run.gflops, 2)} effective GFLOP/s, peak RSS ${fx(run.peakRssMiB)} MiB, BLAS ${run.blas} [${(run.blasLibs ?? []).join(", ")}], malloc ${run.malloc}, torch ${j.torch as string}`);
      } else {
        const error = failureMessage(r, childTimeoutS);
        torch.push({ threads, ok: false, error, wallSeconds: r.seconds });
        log(`   FAILED: ${error}`);
      }
    }
  }
  const best = (xs: { ok: boolean; tokensPerSec?: number }[]) => Math.max(...xs.filter((x) => x.ok).map((x) => x.tokensPerSec!), -Infinity);
  const mfBest = best(mf);
  const torchBest = best(torch);
  const ratio = Number.isFinite(mfBest) && Number.isFinite(torchBest) ? mfBest / torchBest : undefined;
  rows.push({
    shape: shape.name, dim: shape.dim, layers: shape.layers, heads: shape.heads, kvHeads: shape.kvHeads, ffn: shape.ffn,
    gemmOneThreadGflops: gemm.gflops, gemmKernels: gemm.kernels,
    perCoreVsGemm: Object.fromEntries(mf.filter((x) => x.ok).map((x) => [`${x.threads}t`, x.gflops! / x.threads / gemm.gflops])),
    perCoreVsGemmAfter: Object.fromEntries(mf.filter((x) => x.ok).map((x) => [`${x.threads}t`, x.gflops! / x.threads / x.gemmAfterGflops!])),
    params: counts, memoryFormulaMiB: mem.bytes / MiB, memoryFormulaParts: { weightsMiB: mem.weightsBytes / MiB, activationsMiB: mem.activationBytes / MiB },
    savedActivationFloats: savedActivationFloats(config, TOKENS_PER_STEP),
    maskforge: mf, torch, maskforgeBestTokensPerSec: Number.isFinite(mfBest) ? mfBest : null, torchBestTokensPerSec: Number.isFinite(torchBest) ? torchBest : null,
    maskforgeBestOverTorchBest: ratio ?? null,
  });
}

// ---- the table ----------------------------------------------------------------------------------------------------
log("");
const cols = ["shape", ...threadCounts.map((t) => `mf ${t}t tok/s`), "mf GFLOP/s", "GEMM 1t", ...threadCounts.map((t) => `core ${t}t`), ...threadCounts.map((t) => `core* ${t}t`), ...threadCounts.map((t) => `RSS ${t}t MiB`), "formula MiB", ...threadCounts.map((t) => `ratio ${t}t`), ...threadCounts.map((t) => `torch ${t}t tok/s`), "mf/torch"];
const table: string[][] = [cols];
for (const r of rows) {
  const mf = r.maskforge as MfRun[];
  const torch = r.torch as TorchRun[];
  const at = <T extends { threads: number }>(xs: T[], t: number) => xs.find((x) => x.threads === t);
  const bestMf = mf.filter((x) => x.ok).sort((a, b) => b.tokensPerSec! - a.tokensPerSec!)[0];
  table.push([
    r.shape as string,
    ...threadCounts.map((t) => (at(mf, t)?.ok ? fx(at(mf, t)!.tokensPerSec) : "FAIL")),
    bestMf ? fx(bestMf.gflops, 2) : "-",
    fx(r.gemmOneThreadGflops as number, 1),
    ...(["perCoreVsGemm", "perCoreVsGemmAfter"] as const).flatMap((k) =>
      threadCounts.map((t) => {
        const v = (r[k] as Record<string, number>)[`${t}t`];
        return v === undefined ? "-" : `${fx(100 * v, 0)}%`;
      }),
    ),
    ...threadCounts.map((t) => fx(at(mf, t)?.peakRssMiB)),
    fx(r.memoryFormulaMiB as number),
    ...threadCounts.map((t) => (at(mf, t)?.ok ? fx(at(mf, t)!.measuredVsFormula, 2) : "-")),
    ...threadCounts.map((t) => (torchMissing ? "skip" : at(torch, t)?.ok ? fx(at(torch, t)!.tokensPerSec) : "FAIL")),
    r.maskforgeBestOverTorchBest === null ? "-" : fx(r.maskforgeBestOverTorchBest as number, 2),
  ]);
}
const widths = cols.map((_, i) => Math.max(...table.map((row) => row[i].length)));
for (const row of table) log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "));
for (const r of rows)
  for (const m of r.maskforge as MfRun[]) if (!m.ok) log(`${r.shape as string} maskforge ${m.threads}t failed: ${m.error}`);
for (const r of rows)
  for (const m of r.torch as TorchRun[]) if (!m.ok) log(`${r.shape as string} PyTorch ${m.threads}t failed: ${m.error}`);
const blasSeen = [...new Set(rows.flatMap((r) => (r.torch as TorchRun[]).filter((t) => t.ok).map((t) => `${t.blas} [${(t.blasLibs ?? []).join(", ")}]`)))];
if (blasSeen.length) log(`PyTorch BLAS: ${blasSeen.join("; ")}; allocator: ${mallocLib ? basename(mallocLib) : "glibc malloc"}`);
const wall = (performance.now() - benchT0) / 1000;
log(`mf = maskforge (--native ${native}); GEMM 1t = our GEMM's one-thread GFLOP/s at the shape; core Nt = effective GFLOP/s per thread ÷ GEMM 1t; core* Nt = the same ÷ the GEMM's one-thread rate measured in that run's process right after its steps; ratio = peak RSS / memory formula; mf/torch = maskforge best / PyTorch best tokens/s; wall ${wall.toFixed(0)} s`);
log(JSON.stringify({
  bench: "scale", vocab: VOCAB, seqLen: SEQ, batch: BATCH, tokensPerStep: TOKENS_PER_STEP, microBatches: 2, warmup, threads: threadCounts, native,
  lmHead: "untied", flopFormula: FLOP_FORMULA, memoryFormula: MEMORY_FORMULA,
  torch: torchMissing ? { skipped: torchMissing } : { python: PYTHON, openblas: openblas?.flavour ?? null, blas: blasSeen, malloc: mallocLib ? basename(mallocLib) : "glibc" },
  shapes: rows, wallSeconds: wall,
}));
