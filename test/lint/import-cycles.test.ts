// No import cycles: eslint.config.js's import-x/no-cycle must be on for sources and tests alike (a config edit that
// drops it fails here), and since that rule skips type-only imports, the tree's import graph is walked here with
// them counted too, so a type cycle like the one llama/ once had through model.ts cannot come back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import ts from "typescript";

const root = fileURLToPath(new URL("../..", import.meta.url));
const eslint = new ESLint({ cwd: root });

test("lint rejects: a module that imports itself back", async () => {
  // model.ts imports weights.ts, so weights.ts may not import model.ts
  const code = 'import { forward } from "./model.js";\nexport const f = forward;\n';
  const [result] = await eslint.lintText(code, { filePath: join(root, "src/maskllm/llama/weights.ts") });
  const messages = result.messages.map((m) => `${m.ruleId ?? "fatal"}: ${m.message}`);
  assert.ok(messages.some((m) => /^import-x\/no-cycle: /.test(m)), `expected import-x/no-cycle, got ${JSON.stringify(messages)}`);
});

for (const file of ["src/worker/probe.ts", "test/worker/probe.test.ts", "bench/probe.ts", "scripts/probe.ts", "src/parallel/probe.mjs"]) {
  test(`lint checks import cycles in ${file.split("/")[0]} (${file})`, async () => {
    const config = await eslint.calculateConfigForFile(join(root, file));
    const [severity] = [config.rules?.["import-x/no-cycle"]].flat();
    assert.ok(severity === 2 || severity === "error", `import-x/no-cycle is ${JSON.stringify(config.rules?.["import-x/no-cycle"])} for ${file}`);
  });
}

/** The .ts and .mjs files under dir (tsconfig's tree, less node_modules and the AssemblyScript sources). */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name) && !e.name.endsWith(".d.ts"))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !/[\\/](node_modules|assembly)[\\/]/.test(relative(root, f)));
}

test("no import cycle in src, test, bench or scripts, type-only imports included", () => {
  const files = ["src", "test", "bench", "scripts"].flatMap(sources);
  assert.ok(files.length > 100, `found only ${files.length} source files`);
  const known = new Set(files);
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowJs: true };
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const deps = importedFiles
      .filter((i) => i.fileName.startsWith("."))
      .map((i) => ts.resolveModuleName(i.fileName, file, options, ts.sys).resolvedModule?.resolvedFileName)
      .filter((f): f is string => f !== undefined && known.has(f));
    graph.set(file, deps);
  }
  // Tarjan's strongly connected components: every component of more than one file (or a file importing itself) is a cycle
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(relative(root, w));
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  assert.deepEqual(cycles, [], `files that import each other (type-only imports included): ${cycles.map((c) => c.join(" ↔ ")).join("; ")}`);
});
