// Messages between the training loop's thread and its replica threads: one request, one answer, in order
// (structured clones; gradients are transferred, not copied).
import type { LlamaConfig } from "../maskllm/llama/config.js";
import type { BackendChoice } from "../maskllm/backend.js";
import type { MaskTarget } from "../maskllm/train/logits.js";
import type { MicroBatch } from "../maskllm/train/micro-batch.js";

export type ToReplica =
  | { kind: "init"; backend: BackendChoice; config: LlamaConfig; weights: [name: string, shape: number[], values: Float32Array][] }
  | { kind: "prepare"; targets: MaskTarget[]; groupSize: number; seqLen: number }
  | { kind: "compute"; masks: Float32Array; microBatches: MicroBatch[] };

export type FromReplica =
  | { kind: "ready"; backend: string }
  | { kind: "prepared" }
  | { kind: "result"; results: { grad: Float32Array; lm: number }[] }
  | { kind: "error"; message: string };
