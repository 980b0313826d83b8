// Builds the optional native addon (src/native/*.cc → build/native/maskforge-native.node) with the C++
// compiler and Node's own headers; run by postinstall after the other steps and by `npm run build:native`. It never
// fails the install: without a compiler, headers or an x86-64 CPU it logs one line and the trainer keeps its wasm
// kernels. The .node is written beside and renamed into place, so a failed build leaves none half-written.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const sources = ["addon.cc", "gemm.cc", "head-loss.cc", "layers.cc", "mask-step.cc", "attention.cc"].map((f) => join(root, "src/native", f));
const outDir = join(root, "build/native");
const out = join(outDir, "maskforge-native.node");
const skip = (why) => {
  console.log(`maskforge: native GEMM addon not built (${why}); the host trainer uses its wasm kernels`);
  process.exit(0);
};

if (process.arch !== "x64") skip(`${process.arch} is not x86-64`);
// Node's headers: npm's nodedir if set, else beside the running node (…/bin/node → …/include/node)
const includes = [process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include/node"), resolve(dirname(process.execPath), "../include/node")].filter(Boolean);
const include = includes.find((d) => existsSync(join(d, "node_api.h")));
if (!include) skip("Node's headers (node_api.h) not found");
const cxx = process.env.CXX || "g++";
const tmp = `${out}.tmp-${process.pid}`;
mkdirSync(outDir, { recursive: true });
const flags = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", ...(process.platform === "darwin" ? ["-undefined", "dynamic_lookup"] : []), `-I${include}`, ...sources, "-o", tmp];
const r = spawnSync(cxx, flags, { encoding: "utf8" });
if (r.error || r.status !== 0) {
  rmSync(tmp, { force: true });
  const lines = (r.stderr || "").trim().split("\n");
  skip(r.error ? `${cxx}: ${r.error.message}` : `${cxx} failed: ${lines.find((l) => / error/.test(l)) ?? lines[0]}`);
}
renameSync(tmp, out);
console.log(`maskforge: native GEMM addon built (${cxx})`);
