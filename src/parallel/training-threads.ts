// The training threads of a run, whichever path trains it: an OpPool (every large op split over the threads, one
// shared copy of the weights) where the host trainer runs, TF.js replicas (one micro-batch per thread, a weight
// copy each) elsewhere. Callers hand both to trainMasks; it uses the one its path needs.
import type { BackendChoice } from "../maskllm/backend.js";
import { hostTrainingSupported } from "../maskllm/host/engine.js";
import type { LlamaModel } from "../maskllm/llama/model.js";
import { OpPool } from "./op-pool.js";
import { ThreadReplicas } from "./thread-replicas.js";

export interface TrainingThreads {
  threads: number;
  /** "host": ops split over the threads; "replicas": micro-batches spread over them */
  kind: "host" | "replicas" | "single";
  executor?: OpPool;
  replicas?: ThreadReplicas;
  close(): Promise<void>;
}

/** Starts `threads` training threads (the caller's included) for the model's path on the current backend. */
export async function startTrainingThreads(model: Pick<LlamaModel, "config" | "weights">, threads: number, backend: BackendChoice): Promise<TrainingThreads> {
  if (threads <= 1) return { threads: 1, kind: "single", close: async () => {} };
  if (hostTrainingSupported(model.config)) {
    const executor = await OpPool.start(threads);
    return { threads, kind: "host", executor, close: () => executor.close() };
  }
  const replicas = await ThreadReplicas.start(model as LlamaModel, threads - 1, backend);
  return { threads, kind: "replicas", replicas, close: () => replicas.close() };
}
