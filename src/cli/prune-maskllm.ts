// `maskforge prune --method maskllm`: learns the N:M mask (MaskLLM) on the calibration text, starting from a prior
// (a one-shot mask, none, or a stored mask file), then trims it, with the training stage a job runs
// (src/worker/stages.ts). Adds masks/mask_logits.safetensors to the output folder; snapshots go to <out>.snapshot
// (atomically replaced) so an interrupted run can go on with --resume.
import { createHash } from "node:crypto";
import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import cliProgress from "cli-progress";
import { PruneInputError } from "../maskllm/prune/errors.js";
import { formatPattern } from "../maskllm/mask/nm.js";
import { verifyNMMask } from "../maskllm/mask/verify.js";
import { linearWeightNames, weight } from "../maskllm/llama/model.js";
import { selectLayers } from "../maskllm/prune/select-layers.js";
import type { MaskTrainingProgress } from "../maskllm/train/loop.js";
import { TrainingAbortedError } from "../maskllm/train/errors.js";
import { hardMaskFromLogits, trimMasks } from "../maskllm/train/trim.js";
import { candidateCount } from "../maskllm/train/logits.js";
import { evalWindows } from "../checkpoint/text-dataset.js";
import { fileDocuments } from "../checkpoint/dataset-formats.js";
import type { FormatChoice } from "../contract/datasets.js";
import { decodeMaskNpz } from "../checkpoint/mask-npz.js";
import { decodeMaskLogits, encodeMaskLogits, MASK_LOGITS_FILE } from "../checkpoint/mask-logits.js";
import type { BackendChoice } from "../maskllm/backend.js";
import { defaultTrainingThreads } from "../parallel/thread-replicas.js";
import { priorOnce, tokenizeDocuments, trainLogits, type PriorSource, type PruneRun } from "../worker/stages.js";

export const MASKLLM_PRIORS = ["sparsegpt", "wanda", "magnitude", "none"] as const;

export interface MaskLlmCliOptions {
  prior: string;
  steps: number;
  lr?: number;
  seed: number;
  seqLen: number;
  batchSize: number;
  calib?: string;
  calibFormat: FormatChoice;
  calibField?: string;
  out: string;
  snapshotEvery?: number;
  resume?: string;
  json?: boolean;
  /** parts each step's batch is cut into (part of the run: a resume needs the same) */
  microBatches: number;
  /** threads that compute the parts (default: one per core, at most microBatches); the mask does not depend on it */
  threads?: number;
  backend: BackendChoice;
}

export interface MaskLlmOutcome {
  masks: Map<string, Uint8Array>;
  /** for the output folder's masks/ subfolder */
  maskFiles: Map<string, Uint8Array>;
  report: Record<string, unknown>;
}

async function folderSha256(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of (await readdir(dir)).filter((x) => x.endsWith(".safetensors")).sort()) h.update(await readFile(join(dir, f)));
  return h.digest("hex");
}

/** Where --prior points: none, a one-shot method on the calibration windows, or a mask file read once it is needed. */
function priorSource(o: MaskLlmCliOptions, run: PruneRun, targets: string[]): PriorSource {
  if (o.prior === "none" || o.prior === "sparsegpt" || o.prior === "wanda" || o.prior === "magnitude") return o.prior;
  return async () => {
    const { model, pattern } = run;
    const bytes = new Uint8Array(await readFile(o.prior).catch(() => {
      throw new PruneInputError(`--prior: '${o.prior}' is neither ${MASKLLM_PRIORS.join("|")} nor a readable file`);
    }));
    const numel = new Map(targets.map((n) => [n, weight(model, n).size] as const));
    let masks: Map<string, Uint8Array>;
    if (o.prior.endsWith(".npz")) masks = decodeMaskNpz(bytes, numel);
    else if (o.prior.endsWith(".safetensors")) {
      const file = await decodeMaskLogits(bytes, o.prior);
      if (file.meta.pattern !== formatPattern(pattern)) throw new PruneInputError(`--prior: the logits are for ${file.meta.pattern}, this run is ${formatPattern(pattern)}`);
      masks = new Map([...file.logits].filter(([k]) => numel.has(k)).map(([k, l]) => [k, hardMaskFromLogits(l, pattern)] as const));
    } else throw new PruneInputError(`--prior: '${o.prior}' must be a mask .npz or a mask-logits .safetensors file`);
    for (const [name, m] of masks) {
      const [rows, cols] = weight(model, name).shape;
      if (m.length !== rows * cols) throw new PruneInputError(`--prior: the mask of ${name} has ${m.length} values, the weight ${rows}×${cols}`);
    }
    if (masks.size === 0) throw new PruneInputError(`--prior: ${o.prior} holds no mask for this model's weights`);
    return masks;
  };
}

const fileName = (path: string | undefined) => (path === undefined ? undefined : basename(path));

/** Trains the mask of `run` (the prior's statistics from its windows, the training batches from every window of --calib), then trims it. */
export async function runMaskLlm(o: MaskLlmCliOptions, run: PruneRun): Promise<MaskLlmOutcome> {
  if (!o.calib) throw new PruneInputError("--method maskllm needs --calib <file>");
  const t0 = performance.now();
  // what the folder records of a file argument is its name, never a path of this machine
  const priorName = (MASKLLM_PRIORS as readonly string[]).includes(o.prior) ? o.prior : fileName(o.prior);
  const { model, pattern } = run;
  const targets = selectLayers(linearWeightNames(model.config), run.targets, run.ignore);
  if (targets.length === 0) throw new PruneInputError("--targets/--ignore leave no linear to mask");
  const data = await fileDocuments(o.calib, o.calibFormat, run.tokenizer, o.calibField);
  const windows = evalWindows(tokenizeDocuments(data.docs, data.format, run.tokenizer, o.calib), o.seqLen);
  if (windows.length === 0) throw new PruneInputError(`${o.calib}: shorter than one window of ${o.seqLen} tokens`);
  const resume = o.resume ? new Uint8Array(await readFile(o.resume)) : undefined;
  const prior = priorOnce(run, priorSource(o, run, targets));
  if (!resume) await prior();
  const snapshotPath = `${o.out.replace(/\/+$/, "")}.snapshot`;
  const bar = !o.json && process.stdout.isTTY
    ? new cliProgress.SingleBar({ format: "maskllm |{bar}| {value}/{total} steps  loss {loss}  τ {tau}  κ {kappa}  change {change}  {tps} tok/s  eta {eta_formatted}", hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  let last: MaskTrainingProgress | undefined;
  const threads = o.threads ?? defaultTrainingThreads(o.microBatches);
  try {
    bar?.start(o.steps, 0, { loss: "-", tau: "-", kappa: "-", change: "-", tps: "-" });
    const r = await trainLogits(run, {
      options: { pattern, steps: o.steps, batchSize: o.batchSize, microBatches: o.microBatches, seed: o.seed, progressEvery: 1, snapshotEvery: o.snapshotEvery ?? 0, ...(o.lr !== undefined ? { lr: o.lr, lrMin: o.lr / 10 } : {}) },
      targets, windows, prior, resume, threads, backend: o.backend, signal: ac.signal,
      onProgress: (p) => {
        last = p;
        bar?.update(p.step, { loss: p.loss.toFixed(3), tau: p.tau.toFixed(2), kappa: p.kappa.toFixed(0), change: p.maskChange.toFixed(4), tps: p.tokensPerSec.toFixed(0) });
        if (!bar && !o.json && (p.step % Math.max(1, Math.round(p.steps / 20)) === 0 || p.step === p.steps))
          process.stderr.write(`maskllm step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)} τ ${p.tau.toFixed(2)} κ ${p.kappa.toFixed(0)} change ${p.maskChange.toFixed(4)} ${p.tokensPerSec.toFixed(0)} tok/s\n`);
      },
      onSnapshot: async (bytes) => {
        await writeFile(`${snapshotPath}.partial`, bytes);
        await rename(`${snapshotPath}.partial`, snapshotPath);
      },
    });
    bar?.stop();
    const masks = trimMasks(r.logits, r.targets, pattern);
    const baseSha256 = await folderSha256(run.srcDir);
    const logitsBytes = encodeMaskLogits(r.logits, candidateCount(pattern), {
      pattern: formatPattern(pattern), baseSha256, steps: r.options.steps, seed: r.options.seed,
      hyperparameters: { ...r.options, pattern: formatPattern(pattern), seqLen: o.seqLen, calib: fileName(o.calib), calibFormat: o.calibFormat } as Record<string, unknown>,
      parentMask: resume ? `resumed:${fileName(o.resume)}` : priorName,
    });
    const layers = r.targets.map((t) => {
      const m = masks.get(t.name)!;
      let zeros = 0;
      for (let i = 0; i < m.length; i++) if (m[i] === 0) zeros++;
      return { name: t.name, shape: t.shape, sparsity: zeros / m.length, nmVerified: verifyNMMask(m, t.shape[0], t.shape[1], pattern).ok, relError: null, seconds: 0 };
    });
    const total = layers.reduce((a, l) => a + l.shape[0] * l.shape[1], 0);
    return {
      masks,
      maskFiles: new Map([[MASK_LOGITS_FILE, logitsBytes]]),
      report: {
        layers, sparsity: layers.reduce((a, l) => a + l.sparsity * l.shape[0] * l.shape[1], 0) / total, allVerified: layers.every((l) => l.nmVerified),
        seconds: (performance.now() - t0) / 1000, method: "maskllm", prior: priorName, resumedFrom: r.startStep || null, steps: r.options.steps,
        trainWindows: windows.length, threads, tokensPerSec: r.tokensPerSec, final: last ?? null, baseSha256, options: r.options,
      },
    };
  } catch (e) {
    bar?.stop();
    if (e instanceof TrainingAbortedError)
      throw new PruneInputError(`interrupted after step ${e.step}${o.snapshotEvery ? `; the last snapshot is ${snapshotPath} (go on with --resume ${snapshotPath})` : " (use --snapshot-every K to be able to resume)"}`);
    throw e;
  } finally {
    process.removeListener("SIGINT", onSig);
  }
}
