import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.js";

test("an empty environment gives the documented defaults", () => {
  const c = loadConfig({});
  assert.equal(c.port, 3000);
  assert.equal(c.queuePrefix, "maskforge");
  assert.equal(c.workerConcurrency, 1);
  assert.equal(c.storage.driver, "local");
  assert.equal(c.logLevel, "info");
  assert.equal(c.rateLimitStore, "memory");
});

test("values are parsed and typed", () => {
  const c = loadConfig({
    PORT: "8080",
    STORAGE_DRIVER: "s3",
    S3_BUCKET: "b",
    S3_FORCE_PATH_STYLE: "true",
    HF_ENDPOINT: "https://hub.example/",
    WORKER_CONCURRENCY: "3",
    RATE_LIMIT_STORE: "redis",
  });
  assert.equal(c.port, 8080);
  assert.equal(c.workerConcurrency, 3);
  assert.equal(c.rateLimitStore, "redis");
  assert.deepEqual(c.storage, { driver: "s3", endpoint: undefined, bucket: "b", region: "us-east-1", accessKeyId: undefined, secretAccessKey: undefined, forcePathStyle: true });
  assert.equal(c.hfEndpoint, "https://hub.example");
});

test("an invalid environment throws one ConfigError naming every bad key", () => {
  const bad = {
    DATABASE_URL: "mysql://x",
    REDIS_URL: "localhost:6379",
    PORT: "70000",
    WORKER_CONCURRENCY: "zero",
    LOG_LEVEL: "loud",
    STORAGE_DRIVER: "ftp",
    RATE_LIMIT_STORE: "postgres",
  };
  let caught: unknown;
  try {
    loadConfig(bad);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  const named = new Set(caught.problems.map((p) => p.split(":")[0]));
  assert.deepEqual([...named].sort(), Object.keys(bad).sort());
  for (const key of Object.keys(bad)) assert.match(caught.message, new RegExp(`\\b${key}\\b`));
});

test("a number below its minimum is rejected with its range", () => {
  assert.throws(() => loadConfig({ WORKER_CONCURRENCY: "0" }), (err: unknown) => err instanceof ConfigError && /WORKER_CONCURRENCY: must be in \[1, 64\]/.test(err.message));
});
