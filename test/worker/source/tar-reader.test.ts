// The tar reader of {url} sources refuses an archive entry that would land outside the model folder, links and
// oversized archives. (The {url} and {hf} jobs themselves run in test/worker/pipeline-e2e.test.ts, through the
// same worker.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { extractTar } from "../../../src/worker/source/tar.js";
import { ByteBudget } from "../../../src/worker/files.js";

test("tar reader refuses entries outside the folder and links", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mf-tar-"));
  execFileSync("sh", ["-c", `cd ${dir} && mkdir -p a && echo hi > a/x && ln -s /etc/passwd a/link && tar -cf ok.tar a/x && tar -cf link.tar a/link && tar -cf dots.tar --transform 's,^a/x,../x,' a/x`]);
  const files = await extractTar(Readable.from(await readFile(join(dir, "ok.tar"))), join(dir, "out1"), { gzip: false, budget: new ByteBudget(1e6, "t") });
  assert.deepEqual(files.map((f) => [f.name, f.bytes]), [["a/x", 3]]);
  await assert.rejects(extractTar(Readable.from(await readFile(join(dir, "link.tar"))), join(dir, "out2"), { gzip: false, budget: new ByteBudget(1e6, "t") }), /link or special file/);
  await assert.rejects(extractTar(Readable.from(await readFile(join(dir, "dots.tar"))), join(dir, "out3"), { gzip: false, budget: new ByteBudget(1e6, "t") }), /outside the model folder/);
  await assert.rejects(extractTar(Readable.from(await readFile(join(dir, "ok.tar"))), join(dir, "out4"), { gzip: false, budget: new ByteBudget(2, "the model") }), /larger than the limit/);
});
