// GradientReplicas on worker threads: each thread holds a copy of the frozen model and computes the micro-batches
// the training loop hands it, while the loop's own thread computes the others. On a 2-core machine this nearly
// halves a step; the result is bit-identical to a single-thread run (micro-batch.ts), so it is purely a speed
// setting. A thread that fails or exits fails the step with its reason.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { BackendChoice } from "../maskllm/backend.js";
import type { LlamaModel } from "../maskllm/llama/model.js";
import type { MaskTarget } from "../maskllm/train/logits.js";
import type { GradientReplicas, MicroBatch } from "../maskllm/train/micro-batch.js";
import type { FromReplica, ToReplica } from "./protocol.js";

export class ReplicaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplicaError";
  }
}

/** Training threads for a machine: one per core (the loop's thread included), at most `cap`. */
export function defaultTrainingThreads(cap = Number.POSITIVE_INFINITY, share = 1): number {
  return Math.max(1, Math.min(cap, Math.floor(availableParallelism() / Math.max(1, share))));
}

class ReplicaThread {
  private readonly worker: Worker;
  private waiting: { resolve: (m: FromReplica) => void; reject: (e: Error) => void } | undefined;
  private failed: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL("./replica-thread.mjs", import.meta.url));
    this.worker.on("message", (m: FromReplica) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (!w) return;
      if (m.kind === "error") w.reject(new ReplicaError(`training thread: ${m.message}`));
      else w.resolve(m);
    });
    const fail = (err: Error) => {
      this.failed ??= err;
      this.waiting?.reject(err);
      this.waiting = undefined;
    };
    this.worker.on("error", (err) => fail(new ReplicaError(`training thread failed: ${err.message}`)));
    this.worker.on("exit", (code) => fail(new ReplicaError(`training thread exited (code ${code})`)));
  }

  /** One request, one answer: the loop never has two in flight on a thread. */
  request(msg: ToReplica, transfer: ArrayBuffer[] = []): Promise<FromReplica> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(msg, transfer);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    this.worker.removeAllListeners("error");
    this.worker.on("error", () => {});
    await this.worker.terminate();
  }
}

export class ThreadReplicas implements GradientReplicas {
  private constructor(private readonly threads: ReplicaThread[]) {}

  get parallelism(): number {
    return this.threads.length;
  }

  /** Starts `count` threads, each with a copy of the model's weights on `backend`. */
  static async start(model: LlamaModel, count: number, backend: BackendChoice): Promise<ThreadReplicas> {
    const weights: [string, number[], Float32Array][] = [...model.weights].map(([name, t]) => [name, t.shape.slice(), t.dataSync() as Float32Array]);
    const threads = Array.from({ length: Math.max(0, count) }, () => new ReplicaThread());
    const r = new ThreadReplicas(threads);
    try {
      await Promise.all(threads.map((t) => t.request({ kind: "init", backend, config: model.config, weights })));
    } catch (err) {
      await r.close();
      throw err;
    }
    return r;
  }

  async prepare(spec: { targets: MaskTarget[]; groupSize: number; seqLen: number }): Promise<void> {
    await Promise.all(this.threads.map((t) => t.request({ kind: "prepare", ...spec })));
  }

  async compute(req: { masks: Float32Array; microBatches: MicroBatch[] }): Promise<{ grad: Float32Array; lm: number }[]> {
    // micro-batch i goes to thread i mod n; answers come back in the order asked
    const n = this.threads.length;
    const share = this.threads.map((_, t) => req.microBatches.filter((_, i) => i % n === t));
    const answers = await Promise.all(
      this.threads.map((t, i) =>
        share[i].length === 0 ? Promise.resolve(undefined) : t.request({ kind: "compute", masks: req.masks, microBatches: share[i].map((mb) => ({ ...mb, ids: mb.ids.slice() })) }),
      ),
    );
    const out: { grad: Float32Array; lm: number }[] = [];
    for (let i = 0; i < req.microBatches.length; i++) {
      const a = answers[i % n];
      if (!a || a.kind !== "result") throw new ReplicaError("training thread answered out of turn");
      out.push(a.results[Math.floor(i / n)]);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
