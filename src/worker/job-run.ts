// What the stages of a job's pipeline share (JobRun) and what the pipeline hands run-job.ts (PipelineOutcome).
import type * as tf from "@tensorflow/tfjs";
import type { JobSpec } from "../contract/job-spec/schema.js";
import type { LoadedModel } from "../checkpoint/load.js";
import type { TextTokenizer } from "../checkpoint/tokenizer.js";
import type { NMPattern } from "../maskllm/mask/nm.js";
import type { TrainMasksResult } from "../maskllm/train/loop.js";
import type { JobIoContext } from "./job-io-context.js";
import type { JobReporter } from "./reporter.js";
import type { FetchedSource } from "./source/fetch-source.js";
import type { PruneRun } from "./stages.js";
import type { Validated } from "./validate.js";

export interface PipelineInput {
  jobId: string;
  spec: JobSpec;
  reporter: JobReporter;
  /** this attempt's scratch folder */
  workDir: string;
  /** where the job's inputs come from (config, storage, the tenant whose uploads it may read), downloading into workDir */
  io: JobIoContext;
}

export interface UploadedArtifact {
  kind: "model_file" | "mask_npz" | "mask_logits" | "report";
  name: string;
  storageKey: string;
  bytes: number;
  sha256: string;
}

export interface EvalResult {
  dataset: string;
  seqLen: number;
  windows: number;
  tokens: number;
  densePerplexity: number;
  sparsePerplexity: number;
}

export interface PipelineOutcome {
  artifacts: UploadedArtifact[];
  metrics: Record<string, unknown>;
  baseSha256: string;
  baseCheckpointId?: string;
  parentMaskId?: string;
  npzKey?: string;
  logitsKey?: string;
}

export type LayerRow = { name: string; shape: [number, number]; sparsity: number; nmVerified: boolean };

/** What the stages hand each other; each field is set by the stage named beside it. */
export interface JobRun {
  jobId: string;
  spec: JobSpec;
  r: JobReporter;
  io: JobIoContext;
  workDir: string;
  pattern: NMPattern;
  source?: FetchedSource; // fetching
  validated?: Validated; // validating
  loaded?: LoadedModel; // calibrating
  run?: PruneRun; // calibrating
  tokenizer?: TextTokenizer; // calibrating (layer by layer: no model is loaded)
  /** calibrating (layer by layer): the pruned folder, its files, and every pruned linear's mask packed 1 bit a weight */
  staged?: { dir: string; files: string[]; packed: Map<string, Uint8Array> };
  prior?: () => Promise<Map<string, Uint8Array> | undefined>; // calibrating (MaskLLM)
  resume?: Uint8Array; // calibrating (MaskLLM): an earlier attempt's snapshot
  parentMaskId?: string; // calibrating (MaskLLM)
  masks?: Map<string, Uint8Array>; // calibrating (one-shot), trimming (MaskLLM)
  updated?: Map<string, Float32Array>; // calibrating (SparseGPT)
  trained?: TrainMasksResult; // training
  training?: Record<string, unknown>; // training
  replaced?: Map<string, Float32Array>; // evaluating
  layers?: LayerRow[]; // evaluating
  sparsity?: number; // evaluating
  evals: EvalResult[]; // evaluating
  outDir: string;
  files?: string[]; // exporting
  artifacts: UploadedArtifact[]; // uploading
  /** tensors to free when the run ends */
  tensors: tf.Tensor[];
}
