// Streams a 1 GiB sharded safetensors checkpoint to a temp folder, then reads it back tensor by tensor in a fresh
// child process and reports its peak RSS against the goal (1.5 × the largest tensor + the runtime's baseline)
// and the read/write throughput. Prints a summary, then one JSON line. The folder is deleted afterwards.
// Run: npm run bench:checkpoint [-- --gib 1 --tensor-mib 64 --shard-mib 256]
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { CheckpointReader } from "../src/checkpoint/safetensors/checkpoint.js";
import { writeCheckpoint, type TensorSpec } from "../src/checkpoint/safetensors/writer.js";

const { values: args } = parseArgs({
  options: {
    gib: { type: "string", default: "1" },
    "tensor-mib": { type: "string", default: "64" },
    "shard-mib": { type: "string", default: "256" },
    "read-dir": { type: "string" }, // internal: child mode
  },
});
const MiB = 1024 * 1024;

async function readAll(dir: string): Promise<void> {
  const baseline = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const r = await CheckpointReader.open(dir);
  let largest = 0;
  for (const name of r.names) largest = Math.max(largest, (await r.entry(name)).byteLength);
  const scratch = new Uint8Array(largest); // as loadWeights does: the consumer copies each tensor away
  let bytes = 0;
  let checksum = 0;
  for (const name of r.names) {
    const { values } = await r.readFloat32(name, scratch);
    bytes += values.byteLength;
    checksum += values[values.length - 1]; // touch the data so nothing is optimised away
  }
  await r.close();
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ baseline, peak: process.resourceUsage().maxRSS * 1024, bytes, secs, checksum }) + "\n");
}

async function main(): Promise<void> {
  const total = Number(args.gib) * 1024 * MiB;
  const tensorBytes = Number(args["tensor-mib"]) * MiB;
  const n = Math.ceil(total / tensorBytes);
  const specs: TensorSpec[] = Array.from({ length: n }, (_, i) => ({ name: `model.layers.${i}.mlp.up_proj.weight`, dtype: "F32", shape: [tensorBytes / 4 / 1024, 1024] }));
  const dir = await mkdtemp(join(tmpdir(), "bench-ckpt-"));
  try {
    const tw = performance.now();
    const files = await writeCheckpoint(
      dir,
      specs,
      (s) => {
        const v = new Float32Array(tensorBytes / 4);
        const k = specs.indexOf(s);
        for (let i = 0; i < v.length; i += 1024) v[i] = k + i; // sparse pattern: cheap to make, distinct per tensor
        return v;
      },
      { maxShardBytes: Number(args["shard-mib"]) * MiB },
    );
    const writeSecs = (performance.now() - tw) / 1000;
    const self = fileURLToPath(import.meta.url);
    const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, self, "--read-dir", dir], { maxBuffer: MiB });
    const child = JSON.parse(stdout.trim().split("\n").pop()!) as { baseline: number; peak: number; bytes: number; secs: number };
    const goal = child.baseline + 1.5 * tensorBytes;
    const result = {
      bench: "checkpoint",
      checkpointBytes: total,
      tensors: n,
      shards: files.length - 1,
      largestTensorBytes: tensorBytes,
      writeMBps: total / MiB / writeSecs,
      readMBps: child.bytes / MiB / child.secs,
      readBaselineRssBytes: child.baseline,
      readPeakRssBytes: child.peak,
      goalRssBytes: goal,
      withinGoal: child.peak <= goal,
    };
    process.stdout.write(
      `wrote ${(total / MiB).toFixed(0)} MiB in ${files.length - 1} shards at ${result.writeMBps.toFixed(0)} MiB/s; ` +
        `read ${n} tensors at ${result.readMBps.toFixed(0)} MiB/s\n` +
        `read peak RSS ${(child.peak / MiB).toFixed(0)} MiB (baseline ${(child.baseline / MiB).toFixed(0)} MiB, largest tensor ${(tensorBytes / MiB).toFixed(0)} MiB, ` +
        `goal ≤ ${(goal / MiB).toFixed(0)} MiB): ${result.withinGoal ? "within goal" : "OVER GOAL"}\n`,
    );
    process.stdout.write(JSON.stringify(result) + "\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (args["read-dir"]) await readAll(args["read-dir"]);
else await main();
