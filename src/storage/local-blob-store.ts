// Blob store on the local filesystem (the default, and what dev and tests use). Objects live at
// <root>/<key>; a put writes to <root>/.tmp and renames, so readers see the old object or the new one,
// never a half-written file. Content type and metadata live in <root>/.meta/<key>.json.
import { randomUUID } from "node:crypto";
import { constants as fsConstants, createWriteStream } from "node:fs";
import { access, mkdir, open, readFile, readdir, rename, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  BlobNotFoundError,
  BlobTooLargeError,
  InvalidKeyError,
  InvalidRangeError,
  type BlobInfo,
  type BlobStore,
  type GetOptions,
  type PutOptions,
  type PutResult,
} from "./blob-store.js";
import { assertValidKey, assertValidPrefix, RESERVED_ROOT_SEGMENTS } from "./keys.js";
import { MeasureStream, resolveRange } from "./measure-stream.js";
import { DEFAULT_CONTENT_TYPE, normalizeMetadata } from "./metadata.js";

interface Sidecar {
  contentType?: string;
  metadata?: Record<string, string>;
}

const TMP_DIR = ".tmp";
const META_DIR = ".meta";

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

export class LocalBlobStore implements BlobStore {
  readonly kind = "local" as const;
  readonly root: string;

  constructor(opts: { dir: string }) {
    this.root = resolve(opts.dir);
  }

  /** The file for a key; the prefix check is a second guard behind assertValidKey. */
  private pathOf(key: string, base = this.root): string {
    const p = join(base, ...assertValidKey(key).split("/"));
    if (!p.startsWith(base + sep)) throw new InvalidKeyError(key, "resolves outside the store root");
    return p;
  }

  private metaPathOf(key: string): string {
    return `${this.pathOf(key, join(this.root, META_DIR))}.json`;
  }

  async put(key: string, body: Readable | Uint8Array, opts: PutOptions = {}): Promise<PutResult> {
    const dest = this.pathOf(key);
    const metaDest = this.metaPathOf(key);
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const tmpMeta = `${tmp}.meta.json`;
    const measure = new MeasureStream(key, opts.maxBytes);
    try {
      if (body instanceof Uint8Array && opts.maxBytes !== undefined && body.length > opts.maxBytes)
        throw new BlobTooLargeError(key, opts.maxBytes);
      const source = body instanceof Uint8Array ? Readable.from([body]) : body;
      await pipeline(source, measure, createWriteStream(tmp, { flags: "wx" }));
      const sidecar: Sidecar = { contentType: opts.contentType ?? DEFAULT_CONTENT_TYPE, metadata: normalizeMetadata(opts.metadata) };
      await writeFile(tmpMeta, JSON.stringify(sidecar), { flag: "wx" });
      // sidecar first: once the object appears, its metadata is already in place
      await this.moveInto(key, tmpMeta, metaDest);
      await this.moveInto(key, tmp, dest);
    } catch (err) {
      await Promise.all([unlink(tmp).catch(() => {}), unlink(tmpMeta).catch(() => {})]);
      if (!(body instanceof Uint8Array) && !body.destroyed) body.destroy();
      throw err;
    }
    return { key, bytes: measure.bytes, sha256: measure.digest() };
  }

  /** rename with the parent folders made; retried because a concurrent delete may prune a folder just made */
  private async moveInto(key: string, from: string, to: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dirname(to), { recursive: true });
        await rename(from, to);
        return;
      } catch (err) {
        const code = errno(err);
        if (code === "ENOENT" && attempt < 3) continue;
        if (code === "ENOTDIR" || code === "EEXIST")
          throw new InvalidKeyError(key, "a parent of this key is already an object (the local store cannot hold both 'a' and 'a/b')");
        if (code === "EISDIR" || code === "ENOTEMPTY")
          throw new InvalidKeyError(key, "other objects are stored under this key as a folder (the local store cannot hold both 'a' and 'a/b')");
        throw err;
      }
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Readable> {
    const path = this.pathOf(key);
    let fh;
    try {
      fh = await open(path, "r");
    } catch (err) {
      if (["ENOENT", "ENOTDIR", "EISDIR"].includes(errno(err) ?? "")) throw new BlobNotFoundError(key);
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new BlobNotFoundError(key);
      if (!opts.range) return fh.createReadStream();
      const r = resolveRange(opts.range, st.size);
      if ("reason" in r) throw new InvalidRangeError(key, opts.range, r.reason);
      return fh.createReadStream({ start: opts.range.start, end: r.end });
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    const path = this.pathOf(key);
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      if (["ENOENT", "ENOTDIR"].includes(errno(err) ?? "")) return null;
      throw err;
    }
    if (!st.isFile()) return null;
    let sidecar: Sidecar = {};
    try {
      sidecar = JSON.parse(await readFile(this.metaPathOf(key), "utf8")) as Sidecar;
    } catch (err) {
      if (errno(err) !== "ENOENT") throw err;
    }
    return { key, bytes: st.size, modifiedAt: st.mtime, contentType: sidecar.contentType, metadata: sidecar.metadata };
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    assertValidPrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    yield* this.walk(dirKey ? this.pathOf(dirKey) : this.root, dirKey, prefix);
  }

  private async *walk(dir: string, dirKey: string, prefix: string): AsyncIterable<BlobInfo> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (["ENOENT", "ENOTDIR"].includes(errno(err) ?? "")) return;
      throw err;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (dirKey === "" && RESERVED_ROOT_SEGMENTS.has(e.name)) continue;
      const key = dirKey ? `${dirKey}/${e.name}` : e.name;
      if (e.isDirectory()) {
        // descend only where keys below can still match the prefix
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(join(dir, e.name), key, prefix);
      } else if (e.isFile() && key.startsWith(prefix)) {
        let st;
        try {
          st = await stat(join(dir, e.name));
        } catch (err) {
          if (errno(err) === "ENOENT") continue; // deleted while we walked
          throw err;
        }
        yield { key, bytes: st.size, modifiedAt: st.mtime };
      }
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    const metaPath = this.metaPathOf(key);
    for (const p of [path, metaPath]) {
      try {
        await unlink(p);
      } catch (err) {
        if (!["ENOENT", "ENOTDIR", "EISDIR", "EPERM"].includes(errno(err) ?? "")) throw err;
      }
    }
    await this.prune(dirname(path), this.root);
    await this.prune(dirname(metaPath), join(this.root, META_DIR));
  }

  /** removes folders left empty, up to (not including) `stop`, so deleted prefixes leave no tree behind */
  private async prune(dir: string, stop: string): Promise<void> {
    for (let d = dir; d !== stop && d.startsWith(stop + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch (err) {
        if (errno(err) !== "ENOENT") return; // not empty: the folders above are not empty either
      }
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys: string[] = [];
    for await (const info of this.list(prefix)) keys.push(info.key);
    for (const key of keys) await this.delete(key);
    return keys.length;
  }

  async presignedGetUrl(key: string): Promise<string | null> {
    assertValidKey(key);
    return null;
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, fsConstants.R_OK | fsConstants.W_OK);
  }

  async close(): Promise<void> {}
}
