// A training thread: holds its own copy of the frozen model on its own TF.js backend and answers "the gradient of
// these micro-batches at these masks" (microBatchMaskGradient, the same function the loop's thread runs).
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../maskllm/backend.js";
import type { LlamaModel } from "../maskllm/llama/model.js";
import { microBatchMaskGradient, type MaskContext } from "../maskllm/train/micro-batch.js";
import type { FromReplica, ToReplica } from "./protocol.js";

const port = parentPort!;
let model: LlamaModel | undefined;
let ctx: Pick<MaskContext, "model" | "targets" | "groups"> | undefined;
let seqLen = 0;
let groupSize = 0;
const send = (m: FromReplica, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on("message", async (msg: ToReplica) => {
  try {
    if (msg.kind === "init") {
      const backend = await initBackend(msg.backend);
      model = { config: msg.config, weights: new Map(msg.weights.map(([name, shape, values]) => [name, tf.tensor(values, shape, "float32")])) };
      send({ kind: "ready", backend });
    } else if (msg.kind === "prepare") {
      if (!model) throw new Error("prepare before init");
      groupSize = msg.groupSize;
      ctx = { model, targets: msg.targets, groups: msg.targets.map((t) => (t.shape[0] * t.shape[1]) / groupSize) };
      seqLen = msg.seqLen;
      send({ kind: "prepared" });
    } else {
      if (!ctx) throw new Error("compute before prepare");
      const c = ctx;
      const masks = tf.tensor2d(msg.masks, [msg.masks.length / groupSize, groupSize]);
      try {
        const results = msg.microBatches.map((mb) => {
          const r = microBatchMaskGradient(c, masks, mb, seqLen);
          // a copy of our own to transfer: some backends hand out their storage from dataSync
          const out = { grad: (r.grad.dataSync() as Float32Array).slice(), lm: r.lm.dataSync()[0] };
          tf.dispose([r.grad, r.lm]);
          return out;
        });
        send({ kind: "result", results }, results.map((r) => r.grad.buffer as ArrayBuffer));
      } finally {
        masks.dispose();
      }
    }
  } catch (err) {
    send({ kind: "error", message: err instanceof Error ? err.message : String(err) });
  }
});
