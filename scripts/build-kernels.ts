// `npm run build:kernels`: recompiles the WebAssembly kernels into their generated modules (scripts/kernels.ts).
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { KERNELS, renderKernelModule, repoRoot } from "./kernels.js";

for (const k of KERNELS) {
  await writeFile(resolve(repoRoot, k.target), await renderKernelModule(k));
  process.stdout.write(`wrote ${k.target}\n`);
}
