// The README's folder table is the map a newcomer reads first, so it must match the tree: every folder of src
// and every folder inside one is named in it (a subfolder by its path from its row's folder, e.g. `llama/` in
// the src/maskllm/ row), and every folder or source file it names exists. Deeper folders need not be named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

interface Row {
  folders: string[];
  /** paths named in the "what" cell: folders (ending in /) and source files */
  named: string[];
}

/** The rows of the table whose header is `| folder | what |`. */
function folderTable(readme: string): Row[] {
  const lines = readme.split("\n");
  const start = lines.findIndex((l) => /^\|\s*folder\s*\|\s*what\s*\|\s*$/.test(l));
  assert.ok(start >= 0, "README.md has a `| folder | what |` table");
  const rows: Row[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    const [folderCell, whatCell] = line.split(/(?<!\\)\|/).slice(1, 3);
    const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    rows.push({
      folders: ticked(folderCell).map((f) => f.replace(/\/$/, "")),
      named: ticked(whatCell).filter((t) => /^[\w.-]+(\/[\w.-]+)*(\/|\.(ts|js|mjs))$/.test(t)),
    });
  }
  return rows;
}

const isDir = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
const isFile = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
const subfolders = (dir: string) => readdirSync(join(root, dir), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

/** Folders and paths a row names that are not in the tree. */
function missingPaths(rows: Row[]): string[] {
  const missing: string[] = [];
  for (const row of rows) {
    for (const f of row.folders) if (!isDir(join(root, f))) missing.push(`${f}/`);
    for (const p of row.named) {
      const found = row.folders.some((f) => (p.endsWith("/") ? isDir(join(root, f, p)) : isFile(join(root, f, p))));
      if (!found) missing.push(`${p} (in the row of ${row.folders.join(", ")})`);
    }
  }
  return missing;
}

/** Folders of src (and folders inside them) that no row names. */
function unnamedFolders(rows: Row[]): string[] {
  const unnamed: string[] = [];
  for (const top of subfolders("src")) {
    const row = rows.find((r) => r.folders.includes(`src/${top}`));
    if (!row) {
      unnamed.push(`src/${top}/`);
      continue;
    }
    for (const sub of subfolders(`src/${top}`)) if (!row.named.some((p) => p.startsWith(`${sub}/`))) unnamed.push(`src/${top}/${sub}/`);
  }
  return unnamed;
}

const readme = readFileSync(join(root, "README.md"), "utf8");
const rows = folderTable(readme);

test("every folder and path the table names exists", () => {
  assert.ok(rows.length >= 5, `read only ${rows.length} rows`);
  const missing = missingPaths(rows);
  assert.deepEqual(missing, [], `named in README.md's folder table but not in the tree: ${missing.join("; ")}`);
});

test("every folder of src, and every folder inside one, is named in the table", () => {
  const unnamed = unnamedFolders(rows);
  assert.deepEqual(unnamed, [], `not in README.md's folder table: ${unnamed.join(", ")}`);
});

test("the table is read cell by cell, and a row left out or a stale path fails", () => {
  const table = "| folder | what |\n|---|---|\n| `src/a/`, `src/b/` | x (`c/`, `c/d.ts`, `/v1`, `config.json`) |\n| `docs/` | y |\n\nafter";
  assert.deepEqual(folderTable(table), [
    { folders: ["src/a", "src/b"], named: ["c/", "c/d.ts"] },
    { folders: ["docs"], named: [] },
  ]);
  const withoutWorker = folderTable(readme.replace(/^\| `src\/worker\/` \|.*\n/m, ""));
  assert.equal(withoutWorker.length, rows.length - 1);
  assert.deepEqual(unnamedFolders(withoutWorker), ["src/worker/"]);
  const withoutSource = folderTable(readme.replace("(`source/`: ", "("));
  assert.deepEqual(unnamedFolders(withoutSource), ["src/worker/source/"]);
  const stale = folderTable(readme.replace("(`llama/`)", "(`llama/`, `gpt2/`)"));
  assert.deepEqual(missingPaths(stale), ["gpt2/ (in the row of src/maskllm)"]);
});
