// s3:// job sources against s3rver: a model folder under a key prefix (index + shards), a .tar.gz object
// through the dispatcher, and the user errors (missing prefix, bucket, config.json) that must not be retried.
// Sources live in their own bucket on the S3_SOURCE_BUCKETS allow-list, never in the storage bucket.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { exportModelDir } from "../../../src/checkpoint/export.js";
import { InvalidJobError, TransientError } from "../../../src/contract/errors.js";
import { parseJobSpec } from "../../../src/contract/job-spec/parse.js";
import { sourceUrlKind } from "../../../src/contract/job-spec/source.js";
import { ByteBudget } from "../../../src/worker/files.js";
import { fetchSource } from "../../../src/worker/source/fetch-source.js";
import { fetchS3Folder, sourceS3Client } from "../../../src/worker/source/s3.js";
import { testConfig } from "../../helpers/config.js";
import { startS3rver, type TestS3 } from "../../helpers/s3rver.js";
import { tinyLlama } from "../../helpers/tiny-llama.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("s3:// sources", () => {
  let s3: TestS3;
  let client: S3Client;
  let modelDir: string;
  let work: string;
  let modelFiles: string[];
  const SOURCES = "model-sources";
  const config = () => testConfig({ ...s3.env, S3_SOURCE_BUCKETS: SOURCES });

  const put = (key: string, body: Buffer | string) => client.send(new PutObjectCommand({ Bucket: SOURCES, Key: key, Body: body }));

  before(async () => {
    s3 = await startS3rver();
    client = sourceS3Client(config());
    await client.send(new CreateBucketCommand({ Bucket: SOURCES }));
    work = await mkdtemp(join(tmpdir(), "maskforge-s3src-"));
    modelDir = join(work, "model");
    // small shards so the index + shards path is the one taken
    modelFiles = await exportModelDir(tinyLlama(), modelDir, { maxShardBytes: 16_000 });
    for (const f of await readdir(modelDir)) await put(`models/tiny/${f}`, await readFile(join(modelDir, f)));
    await put("models/tiny/README.md", "not a model file");
    await put("models/tiny/sub/config.json", "{}");
    await put("models/noconfig/model.safetensors", "x");
    execFileSync("tar", ["-czf", join(work, "tiny.tar.gz"), "-C", work, "model"]);
    await put("archives/tiny.tar.gz", await readFile(join(work, "tiny.tar.gz")));
  });
  after(async () => {
    client.destroy();
    await s3.close();
    await rm(work, { recursive: true, force: true });
  });

  const fresh = () => mkdtemp(join(work, "job-"));

  it("the contract accepts s3 URIs and rejects bad buckets", () => {
    const ok = parseJobSpec({ source: { url: "s3://my-bucket/models/tiny/" }, method: "magnitude" });
    assert.ok(ok.ok && "url" in ok.spec.source && ok.spec.source.url === "s3://my-bucket/models/tiny/");
    assert.equal(sourceUrlKind("s3://b-1/a/m.tar.gz"), "tar.gz");
    assert.equal(sourceUrlKind("s3://b-1/a/"), "base");
    const bad = parseJobSpec({ source: { url: "s3://Bad_Bucket/x/" }, method: "magnitude" });
    assert.ok(!bad.ok && bad.errors.some((e) => e.path === "/source/url" && /bucket name/.test(e.message)));
  });

  it("downloads config, tokenizer-side files, index and shards from a prefix, with sizes and sha256", async () => {
    const dir = await fresh();
    const files = await fetchS3Folder(client, `s3://${SOURCES}/models/tiny`, { dir, budget: new ByteBudget(1e9, "the model"), signal: undefined });
    assert.ok(modelFiles.some((f) => /^model-\d+-of-\d+\.safetensors$/.test(f)), "the export is sharded");
    assert.deepEqual(files.map((f) => f.name).sort(), [...(await readdir(modelDir))].sort());
    assert.ok(!files.some((f) => f.name === "README.md" || f.name.startsWith("sub")));
    for (const f of files) {
      const want = await readFile(join(modelDir, f.name));
      const got = await readFile(join(dir, f.name));
      assert.equal(f.bytes, want.length, f.name);
      assert.equal(f.sha256, sha(want), f.name);
      assert.ok(got.equals(want), f.name);
    }
  });

  it("applies the download cap", async () => {
    await assert.rejects(fetchS3Folder(client, `s3://${SOURCES}/models/tiny/`, { dir: await fresh(), budget: new ByteBudget(1000, "the model") }), (e: InvalidJobError) => e.code === "source_too_large");
  });

  it("user errors are InvalidJobError with a reason", async () => {
    const budget = () => new ByteBudget(1e9, "the model");
    const cases: [string, string, RegExp][] = [
      [`s3://${SOURCES}/models/absent/`, "source_not_found", /holds no objects/],
      [`s3://no-such-bucket-xyz/models/tiny/`, "source_not_found", /bucket does not exist/],
      [`s3://${SOURCES}/models/noconfig/`, "checkpoint_invalid", /no config\.json/],
    ];
    for (const [url, code, msg] of cases)
      await assert.rejects(fetchS3Folder(client, url, { dir: await fresh(), budget: budget() }), (e: unknown) => {
        assert.ok(e instanceof InvalidJobError, `${url}: ${String(e)}`);
        assert.equal(e.code, code, url);
        assert.match(e.publicMessage, msg);
        return true;
      });
  });

  it("an unreachable endpoint is a TransientError (retried)", async () => {
    // a port that was just free: nothing listens there
    const { createServer } = await import("node:net");
    const srv = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => srv.once("listening", r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const dead = sourceS3Client(testConfig({ ...s3.env, S3_ENDPOINT: `http://127.0.0.1:${port}` }));
    try {
      await assert.rejects(fetchS3Folder(dead, `s3://${SOURCES}/models/tiny/`, { dir: await fresh(), budget: new ByteBudget(1e9, "the model") }), (e: unknown) => e instanceof TransientError);
    } finally {
      dead.destroy();
    }
  });

  it("the dispatcher routes s3 folders and s3 archives", async () => {
    const ctx = { config: config(), prisma: undefined as never, store: undefined as never, tenantId: null };
    const folder = await fetchSource({ url: `s3://${SOURCES}/models/tiny/` }, { ...ctx, dir: await fresh() });
    const archive = await fetchSource({ url: `s3://${SOURCES}/archives/tiny.tar.gz` }, { ...ctx, dir: await fresh() });
    assert.equal(archive.sha256, folder.sha256, "same folder, same digest");
    assert.equal(archive.description, `s3://${SOURCES}/archives/tiny.tar.gz`);
    await assert.rejects(fetchSource({ url: `s3://${SOURCES}/archives/none.tar` }, { ...ctx, dir: await fresh() }), (e: InvalidJobError) => e.code === "source_not_found");
  });

  it("refuses the storage bucket, buckets off the allow-list and dot segments before any S3 call", async () => {
    const ctx = { config: config(), prisma: undefined as never, store: undefined as never, tenantId: null };
    // another tenant's checkpoint in the service's own bucket: the worker's credentials could read it
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "checkpoints/other-tenant/config.json", Body: "{}" }));
    const cases: [string, RegExp][] = [
      [`s3://${s3.bucket}/checkpoints/other-tenant/`, /own storage bucket.*checkpoint_id/],
      [`s3://${s3.bucket}/checkpoints/other-tenant/model.tar`, /own storage bucket/],
      ["s3://some-other-bucket/models/tiny/", /not one this deployment reads sources from \(model-sources\)/],
      [`s3://${SOURCES}/models/../../${s3.bucket}/checkpoints/other-tenant/`, /"\.\." segments/],
    ];
    for (const [url, msg] of cases)
      await assert.rejects(fetchSource({ url }, { ...ctx, dir: await fresh() }), (e: unknown) => {
        assert.ok(e instanceof InvalidJobError, `${url}: ${String(e)}`);
        assert.equal(e.code, "source_unauthorized", url);
        assert.match(e.publicMessage, msg, url);
        return true;
      });
    // without an allow-list no bucket is readable
    const none = { ...ctx, config: testConfig(s3.env) };
    await assert.rejects(fetchSource({ url: `s3://${SOURCES}/models/tiny/` }, { ...none, dir: await fresh() }), /none are configured/);
  });
});
