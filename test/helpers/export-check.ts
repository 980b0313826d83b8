// Downloads a job's exported folder from storage and checks it against what the job reported: config.json
// unchanged, exact 2:4 zeros in every pruned linear, the sidecar and card present, and the same perplexity; and that
// it loads everywhere (loadable.ts: only the model's tensors for a loader, format "pt", tokenizer.model, no path of
// the worker's machine), the learned logits stored apart from it where the mask catalogue points.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../src/maskllm/backend.js";
import { loadModelDir } from "../../src/checkpoint/load.js";
import { evalWindows, readDocuments, tokenizeStream } from "../../src/checkpoint/text-dataset.js";
import { perplexity } from "../../src/maskllm/eval/perplexity.js";
import { disposeModel } from "../../src/maskllm/llama/model.js";
import { isExactNM } from "../../src/maskllm/mask/patterns.js";
import { decodeMaskLogits, MASK_LOGITS_FILE } from "../../src/checkpoint/mask-logits.js";
import { CheckpointReader } from "../../src/checkpoint/safetensors/checkpoint.js";
import { jobMaskKey, jobModelPrefix } from "../../src/storage/index.js";
import { readBlob } from "../../src/worker/files.js";
import { checkLoadable, parseRawHeader } from "./loadable.js";
import { EVAL_BATCH_SIZE } from "../../src/worker/job-outputs.js";
import { removeDir, type WorkerEnv } from "./worker.js";

const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

async function download(e: WorkerEnv, jobId: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "mf-e2e-dl-"));
  const prefix = jobModelPrefix(jobId);
  for await (const b of e.store.list(prefix)) {
    const chunks: Buffer[] = [];
    for await (const c of await e.store.get(b.key)) chunks.push(c as Buffer);
    const path = join(dir, b.key.slice(prefix.length));
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, Buffer.concat(chunks));
  }
  return dir;
}

/**
 * Checks the downloaded model against what the job reported; returns its hard masks' digest material. pplRelTol: how
 * far TF.js's perplexity of the download may be from the reported one (a layer-by-layer job evaluates on host arrays).
 */
export async function checkExport(e: WorkerEnv, jobId: string, srcDir: string, evalText: string, opts: { pplRelTol?: number } = {}): Promise<Map<string, Uint8Array>> {
  await initBackend("wasm");
  const job = await e.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
  const metrics = job.metrics as { sparsePerplexity: number; densePerplexity: number; eval: { windows: number }[] };
  const dir = await download(e, jobId);
  try {
    assert.equal(await readFile(join(dir, "config.json"), "utf8"), await readFile(join(srcDir, "config.json"), "utf8"), "config.json unchanged");
    const sidecar = JSON.parse(await readFile(join(dir, "sparsity.json"), "utf8"));
    assert.equal(sidecar.pattern, "2:4");
    assert.equal(sidecar.weights_updated, (job.spec as { method: string }).method === "sparsegpt", "weights_updated: true only for SparseGPT with update");
    const src = await CheckpointReader.open(srcDir);
    const names = [...src.names];
    await src.close();
    await checkLoadable(dir, { names, srcDir, machinePaths: [join(tmpdir(), "maskforge-jobs"), tmpdir()] });
    // the learned logits: their own artifact, outside the model's prefix, where the mask catalogue's logits download reads
    const logitsArt = await e.prisma.artifact.findFirst({ where: { jobId, kind: "mask_logits" } });
    if (logitsArt) {
      assert.equal(logitsArt.storageKey, jobMaskKey(jobId, MASK_LOGITS_FILE));
      assert.equal(logitsArt.name, MASK_LOGITS_FILE);
      const mask = await e.prisma.maskArtifact.findFirstOrThrow({ where: { jobId } });
      assert.equal(mask.logitsKey, logitsArt.storageKey);
      const bytes = await readBlob(e.store, logitsArt.storageKey);
      assert.equal(parseRawHeader(bytes).metadata?.format, "pt");
      assert.equal((await decodeMaskLogits(bytes)).logits.size, 5 * 7);
    }
    assert.ok(sidecar.layers.length > 0 && sidecar.layers.every((l: { nmVerified: boolean }) => l.nmVerified));
    assert.match(await readFile(join(dir, "README.md"), "utf8"), /2:4 semi-structured sparse/);
    const { model, tokenizer } = await loadModelDir(dir);
    try {
      const masks = new Map<string, Uint8Array>();
      for (const [name, w] of model.weights) {
        if (!TARGETS.some((t) => name.includes(`.${t}.`))) continue;
        const values = w.dataSync() as Float32Array;
        assert.ok(isExactNM(values, w.shape[1]!, { n: 2, m: 4 }), `${name} is exactly 2:4`);
        masks.set(name, Uint8Array.from(values, (x) => (x !== 0 ? 1 : 0)));
      }
      assert.equal(masks.size, 5 * 7);
      const windows = evalWindows(tokenizeStream(tokenizer, readDocuments(evalText, "stories"), { bos: tokenizer.bosId }), 64);
      assert.equal(windows.length, metrics.eval[0].windows);
      const ppl = perplexity(model, windows, { batchSize: EVAL_BATCH_SIZE }).perplexity;
      // same windows, batch and backend; only the last bits of the float64 sum may differ between processes
      assert.ok(Math.abs(ppl - metrics.sparsePerplexity) <= (opts.pplRelTol ?? 1e-9) * metrics.sparsePerplexity, `perplexity ${ppl} of the download != reported ${metrics.sparsePerplexity}`);
      assert.ok(metrics.sparsePerplexity > metrics.densePerplexity);
      return masks;
    } finally {
      disposeModel(model);
    }
  } finally {
    await removeDir(dir);
  }
}

