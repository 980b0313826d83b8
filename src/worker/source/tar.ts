// A .tar or .tar.gz model archive into a folder. The entries come from checkpoint/tar-entries.ts (the one tar
// reader, which uploads use too: links and devices refused, a cap on entries); here each regular file is written
// under `dir` as it arrives, hashed and counted against the byte budget, and names that would land outside `dir`
// or come twice are refused. No package: node:zlib for gunzip.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { once } from "node:events";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InvalidJobError } from "../../contract/errors.js";
import { tarEntries } from "../../checkpoint/tar-entries.js";
import { safeRelativeName, type ByteBudget, type StoredFile } from "../files.js";

/** gzip may expand this much before the ratio is checked (config files and tar padding compress very well) */
export const GZIP_RATIO_FLOOR_BYTES = 16 * 1024 * 1024;

export interface ExtractOptions {
  gzip: boolean;
  budget: ByteBudget;
  /**
   * refuse a .tar.gz once it has expanded past GZIP_RATIO_FLOOR_BYTES to more than this many times the
   * compressed bytes read so far: model weights are random-looking floats that gzip barely shrinks, so a
   * high ratio is a decompression bomb, stopped long before the byte budget
   */
  maxRatio?: number;
}

/** The gunzipped bytes of `body`, stopped as a decompression bomb once they outgrow `maxRatio` times the input. */
async function* gunzip(body: Readable, maxRatio: number | undefined): AsyncGenerator<Buffer> {
  const inflate = createGunzip();
  let compressed = 0;
  body.on("error", (e) => inflate.destroy(e));
  body.on("data", (c: Buffer) => (compressed += c.length));
  let expanded = 0;
  try {
    for await (const chunk of body.pipe(inflate) as AsyncIterable<Buffer>) {
      expanded += chunk.length;
      if (maxRatio !== undefined && expanded > GZIP_RATIO_FLOOR_BYTES && expanded > maxRatio * compressed)
        throw new InvalidJobError(
          "source_too_large",
          `the archive expands more than ${maxRatio} times its compressed size (${compressed} bytes became ${expanded} and more); model weights do not compress like that, so it is refused as a decompression bomb`,
        );
      yield chunk;
    }
  } finally {
    inflate.destroy();
  }
}

/** Extracts the archive's regular files under `dir`; returns them in archive order. */
export async function extractTar(body: Readable, dir: string, opts: ExtractOptions): Promise<StoredFile[]> {
  const files: StoredFile[] = [];
  const seen = new Set<string>();
  try {
    for await (const entry of tarEntries(opts.gzip ? gunzip(body, opts.maxRatio) : body)) {
      const name = entry.path.replace(/^\.\//, "");
      const rel = safeRelativeName(name);
      if (!rel) throw new InvalidJobError("checkpoint_invalid", `the archive holds a file named ${JSON.stringify(name)} that would land outside the model folder`);
      if (seen.has(rel)) throw new InvalidJobError("checkpoint_invalid", `the archive holds ${rel} twice`);
      seen.add(rel);
      const path = join(dir, rel);
      await mkdir(dirname(path), { recursive: true });
      const out = createWriteStream(path);
      const hash = createHash("sha256");
      try {
        for await (const piece of entry.body as AsyncIterable<Buffer>) {
          opts.budget.take(piece.length);
          hash.update(piece);
          if (!out.write(piece)) await once(out, "drain");
        }
      } finally {
        out.end();
        await once(out, "close");
      }
      files.push({ name: rel, bytes: entry.size, sha256: hash.digest("hex") });
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") throw new InvalidJobError("checkpoint_invalid", "the archive is not valid gzip data");
    throw err;
  } finally {
    body.destroy();
  }
  return files;
}
