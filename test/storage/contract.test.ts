// One suite, run against both backends, so code tested on the local store behaves the same on S3.
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  BlobNotFoundError,
  BlobTooLargeError,
  createBlobStore,
  InvalidKeyError,
  InvalidRangeError,
  LocalBlobStore,
  S3BlobStore,
  type BlobStore,
} from "../../src/storage/index.js";
import { testConfig } from "../helpers/config.js";
import { startS3rver, type TestS3 } from "../helpers/s3rver.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out.sort();
}

/** `total` random bytes in `chunk`-sized pieces, made as they are read; `hash()` covers what was produced */
function generated(total: number, chunk = 1 << 20, failAfter?: number) {
  const h = createHash("sha256");
  let digest: string | undefined;
  let sent = 0;
  const stream = new Readable({
    read() {
      if (failAfter !== undefined && sent >= failAfter) return this.destroy(new Error("source broke"));
      if (sent >= total) return this.push(null);
      const buf = randomFillSync(Buffer.allocUnsafe(Math.min(chunk, total - sent)));
      sent += buf.length;
      h.update(buf);
      this.push(buf);
    },
  });
  return { stream, hash: () => (digest ??= h.digest("hex")) };
}

/** V8's gc(), exposed at run time: garbage buffers would otherwise count as growth until V8 gets to them */
type Gc = (opts?: { type: "minor" | "major" }) => void;
function exposedGc(): Gc {
  const g = (globalThis as { gc?: Gc }).gc;
  if (g) return g;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as Gc;
}

/**
 * Peak RSS growth over the baseline while `fn` runs, sampled every 100 ms right after a collection, so
 * it measures what the process holds (a body kept in memory shows up whole), not garbage not yet freed.
 */
async function rssGrowth<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const gc = exposedGc();
  gc();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    gc();
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

const BAD_KEYS = [
  "../../etc/passwd",
  "a/../../b",
  "..",
  ".",
  "/etc/passwd",
  "C:/x",
  "a//b",
  "a/./b",
  "a/",
  "",
  "a\\..\\b",
  "a\0b",
  "a\nb",
  ".tmp/x",
  ".meta/x.json",
  "x".repeat(1025),
  `a/${"y".repeat(256)}`,
];

interface Backend {
  name: string;
  setup(): Promise<{ store: BlobStore; teardown(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: "local",
    async setup() {
      const cfg = testConfig();
      const store = createBlobStore(cfg.storage);
      assert.ok(store instanceof LocalBlobStore);
      return { store, teardown: () => rm(store.root, { recursive: true, force: true }) };
    },
  },
  {
    name: "s3",
    async setup() {
      // in a child process, so the memory test counts this process's client, not the server too
      const s3: TestS3 = await startS3rver({ childProcess: true });
      const store = createBlobStore(testConfig(s3.env).storage);
      assert.ok(store instanceof S3BlobStore);
      return {
        store,
        async teardown() {
          await store.close();
          await s3.close();
        },
      };
    },
  },
];

for (const backend of backends) {
  describe(`BlobStore contract: ${backend.name}`, () => {
    let store: BlobStore;
    let teardown: () => Promise<void>;
    before(async () => ({ store, teardown } = await backend.setup()));
    after(async () => teardown());

    /** nothing half-written anywhere: no object at the key, and (local) no temp file */
    async function assertNothingLeft(key: string) {
      assert.equal(await store.head(key), null);
      assert.ok(!(await keys(store, "")).includes(key));
      if (store instanceof LocalBlobStore) {
        const tmp = await readdir(join(store.root, ".tmp")).catch(() => []);
        assert.deepEqual(tmp, [], "temp files left behind");
      }
    }

    it("pings", async () => {
      assert.equal(store.kind, backend.name);
      await store.ping();
    });

    it("puts bytes and gets them back, with sha256, size, content type and metadata", async () => {
      const body = Buffer.from("hello, sparse world\n");
      const res = await store.put("c/hello.txt", body, { contentType: "text/plain", metadata: { Origin: "test", sha256: sha256(body) } });
      assert.deepEqual(res, { key: "c/hello.txt", bytes: body.length, sha256: sha256(body) });
      assert.deepEqual(await readAll(await store.get("c/hello.txt")), body);
      const info = await store.head("c/hello.txt");
      assert.ok(info);
      assert.equal(info.key, "c/hello.txt");
      assert.equal(info.bytes, body.length);
      assert.equal(info.contentType, "text/plain");
      assert.deepEqual(info.metadata, { origin: "test", sha256: sha256(body) }, "metadata names come back lower-cased");
      assert.ok(Math.abs(info.modifiedAt.getTime() - Date.now()) < 60_000, `modifiedAt ${info.modifiedAt.toISOString()} is now`);
    });

    it("puts a stream, and an empty object", async () => {
      const res = await store.put("c/stream.bin", Readable.from([Buffer.from("ab"), Buffer.from("cd")]));
      assert.deepEqual(res, { key: "c/stream.bin", bytes: 4, sha256: sha256(Buffer.from("abcd")) });
      assert.equal((await readAll(await store.get("c/stream.bin"))).toString(), "abcd");
      assert.equal((await store.head("c/stream.bin"))?.contentType, "application/octet-stream");
      const empty = await store.put("c/empty", new Uint8Array(0));
      assert.equal(empty.bytes, 0);
      assert.equal(empty.sha256, sha256(new Uint8Array(0)));
      assert.equal((await readAll(await store.get("c/empty"))).length, 0);
      assert.equal((await store.head("c/empty"))?.bytes, 0);
    });

    it("reads byte ranges (inclusive, clamped at the end) and refuses ranges past the end", async () => {
      await store.put("r/digits", Buffer.from("0123456789"));
      const range = async (start: number, end?: number) => (await readAll(await store.get("r/digits", { range: { start, end } }))).toString();
      // s3rver reads "bytes=0-0" as "bytes=0-" (a bug of its own), so no range here ends at byte 0
      assert.equal(await range(0, 1), "01");
      assert.equal(await range(3, 3), "3");
      assert.equal(await range(2, 5), "2345");
      assert.equal(await range(7), "789");
      assert.equal(await range(8, 100), "89");
      await assert.rejects(store.get("r/digits", { range: { start: 10 } }), InvalidRangeError);
      await assert.rejects(store.get("r/digits", { range: { start: -1 } }), InvalidRangeError);
      await assert.rejects(store.get("r/digits", { range: { start: 5, end: 4 } }), InvalidRangeError);
    });

    it("overwrites an object whole, replacing its metadata", async () => {
      await store.put("o/x", Buffer.from("first version"), { contentType: "text/plain", metadata: { v: "1" } });
      await store.put("o/x", Buffer.from("v2"));
      assert.equal((await readAll(await store.get("o/x"))).toString(), "v2");
      const info = await store.head("o/x");
      assert.equal(info?.bytes, 2);
      assert.equal(info?.contentType, "application/octet-stream");
      assert.equal(info?.metadata, undefined);
    });

    it("reports missing objects: get throws BlobNotFoundError, head gives null, delete is quiet", async () => {
      await assert.rejects(store.get("missing/key"), (err: unknown) => err instanceof BlobNotFoundError && err.key === "missing/key");
      await assert.rejects(store.get("missing/key", { range: { start: 0 } }), BlobNotFoundError);
      assert.equal(await store.head("missing/key"), null);
      await store.delete("missing/key");
      // a key "below" an object names nothing
      await store.put("m/file", Buffer.from("x"));
      await assert.rejects(store.get("m/file/below"), BlobNotFoundError);
      assert.equal(await store.head("m/file/below"), null);
      assert.equal(await store.head("m"), null, "a folder is not an object");
    });

    it("lists recursively by prefix, including partial segments", async () => {
      for (const k of ["l/a/1", "l/a/2", "l/a/sub/3", "l/ab/4", "l/b/5"]) await store.put(k, Buffer.from(k));
      assert.deepEqual(await keys(store, "l/a/"), ["l/a/1", "l/a/2", "l/a/sub/3"]);
      assert.deepEqual(await keys(store, "l/a"), ["l/a/1", "l/a/2", "l/a/sub/3", "l/ab/4"]);
      assert.deepEqual(await keys(store, "l/a/s"), ["l/a/sub/3"]);
      assert.deepEqual(await keys(store, "l/zzz"), []);
      assert.deepEqual(await keys(store, "nowhere/"), []);
      const infos = [];
      for await (const i of store.list("l/b/")) infos.push(i);
      assert.equal(infos.length, 1);
      assert.equal(infos[0].bytes, 5);
      assert.ok(infos[0].modifiedAt instanceof Date);
      const all = await keys(store, "");
      for (const k of ["l/a/1", "l/b/5", "c/hello.txt"]) assert.ok(all.includes(k), `list("") has ${k}`);
    });

    it("deletes one object and whole prefixes", async () => {
      for (const k of ["d/x/1", "d/x/2", "d/x/deep/3", "d/xy", "d/y"]) await store.put(k, Buffer.from(k));
      await store.delete("d/y");
      assert.equal(await store.head("d/y"), null);
      assert.equal(await store.deletePrefix("d/x/"), 3);
      assert.deepEqual(await keys(store, "d/"), ["d/xy"]);
      assert.equal(await store.deletePrefix("d/"), 1);
      assert.deepEqual(await keys(store, "d/"), []);
      assert.equal(await store.deletePrefix("d/"), 0);
      // a key whose folder was pruned can be written again, as a file where the folder was
      await store.put("d/x", Buffer.from("now a file"));
      assert.equal((await store.head("d/x"))?.bytes, 10);
    });

    it("gives a presigned URL that serves the object with its download name (S3), or null (local)", async () => {
      await store.put("p/model.safetensors", Buffer.from("weights"));
      const url = await store.presignedGetUrl("p/model.safetensors", { expiresInSeconds: 60, fileName: 'my "model" é.safetensors' });
      if (backend.name === "local") return assert.equal(url, null);
      assert.ok(url);
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "weights");
      assert.equal(
        res.headers.get("content-disposition"),
        `attachment; filename="my _model_ _.safetensors"; filename*=UTF-8''my%20%22model%22%20%C3%A9.safetensors`,
      );
      const plain = await store.presignedGetUrl("p/model.safetensors");
      assert.ok(plain);
      assert.equal(await (await fetch(plain)).text(), "weights");
    });

    it("refuses bodies over maxBytes and leaves nothing behind (and the previous object intact)", async () => {
      await assert.rejects(
        store.put("big/stream", generated(3 << 20, 64 << 10).stream, { maxBytes: 1 << 20 }),
        (err: unknown) => err instanceof BlobTooLargeError && err.maxBytes === 1 << 20,
      );
      await assertNothingLeft("big/stream");
      await assert.rejects(store.put("big/bytes", Buffer.alloc(11), { maxBytes: 10 }), BlobTooLargeError);
      await assertNothingLeft("big/bytes");
      const exact = await store.put("big/exact", Buffer.alloc(10), { maxBytes: 10 });
      assert.equal(exact.bytes, 10);

      await store.put("big/kept", Buffer.from("old"));
      await assert.rejects(store.put("big/kept", generated(2 << 20).stream, { maxBytes: 1 << 20 }), BlobTooLargeError);
      assert.equal((await readAll(await store.get("big/kept"))).toString(), "old");
    });

    it("passes a failing source's error on and stores nothing", async () => {
      await assert.rejects(store.put("broken/x", generated(4 << 20, 256 << 10, 1 << 20).stream), /source broke/);
      await assertNothingLeft("broken/x");
    });

    it("refuses keys that could escape the root or that S3 and filesystems disagree on", async () => {
      for (const key of BAD_KEYS) {
        const label = JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}…(${key.length})` : key);
        await assert.rejects(store.put(key, Buffer.from("x")), InvalidKeyError, `put ${label}`);
        await assert.rejects(store.get(key), InvalidKeyError, `get ${label}`);
        await assert.rejects(store.head(key), InvalidKeyError, `head ${label}`);
        await assert.rejects(store.delete(key), InvalidKeyError, `delete ${label}`);
        await assert.rejects(store.presignedGetUrl(key), InvalidKeyError, `presign ${label}`);
      }
      for (const prefix of ["../", "/etc", "a//", "a\\b", ".tmp/", "a/../"])
        await assert.rejects(store.deletePrefix(prefix), InvalidKeyError, `deletePrefix ${JSON.stringify(prefix)}`);
      await assert.rejects(keys(store, "../"), InvalidKeyError);
      // still fine: dots inside names, HF-style hidden files, unicode, spaces, long names (s3rver adds a
      // suffix to file names, so 255 bytes, the local limit, is not tried here)
      for (const key of ["a/.gitattributes", "a/b..c", "a/...", "ünï/cødé file.bin", "x".repeat(200)]) {
        await store.put(key, Buffer.from(key));
        assert.equal((await readAll(await store.get(key))).toString(), key);
        await store.delete(key);
      }
    });

    it("streams 100 MB in and out with bounded memory", async () => {
      const total = 100 * 1024 * 1024;
      const src = generated(total);
      const t0 = performance.now();
      const put = await rssGrowth(() => store.put("huge/100mb.bin", src.stream));
      const t1 = performance.now();
      assert.equal(put.result.bytes, total);
      assert.equal(put.result.sha256, src.hash());
      const got = await rssGrowth(async () => {
        const h = createHash("sha256");
        let n = 0;
        for await (const c of await store.get("huge/100mb.bin")) {
          h.update(c as Buffer);
          n += (c as Buffer).length;
        }
        return { n, hash: h.digest("hex") };
      });
      const t2 = performance.now();
      assert.deepEqual(got.result, { n: total, hash: src.hash() });
      const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
      console.log(
        `# ${backend.name} 100 MB: put ${((t1 - t0) / 1000).toFixed(2)} s (RSS +${mb(put.growth)} MB), ` +
          `get ${((t2 - t1) / 1000).toFixed(2)} s (RSS +${mb(got.growth)} MB)`,
      );
      assert.ok(put.growth < 50 * 1024 * 1024, `put grew RSS by ${mb(put.growth)} MB`);
      assert.ok(got.growth < 50 * 1024 * 1024, `get grew RSS by ${mb(got.growth)} MB`);
      await store.delete("huge/100mb.bin");
    });
  });
}

describe("test helper: in-process s3rver", () => {
  it("serves the bucket it made, and closes", async () => {
    const s3 = await startS3rver({ bucket: "helper-check" });
    const store = createBlobStore(testConfig(s3.env).storage);
    try {
      await store.ping();
      await store.put("k", Buffer.from("v"));
      assert.equal((await readAll(await store.get("k"))).toString(), "v");
    } finally {
      await store.close();
      await s3.close();
    }
    await assert.rejects(fetch(s3.endpoint), "the server is gone after close");
  });
});
