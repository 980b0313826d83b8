// The Config every test builds on: the real environment with the test database, a fresh blob-store root
// per call (so tests never see each other's files) and no log output; overrides win.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config.js";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/maskforge_test";

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    DATABASE_URL: TEST_DATABASE_URL,
    LOCAL_STORAGE_DIR: mkdtempSync(join(tmpdir(), "maskforge-blobs-")),
    LOG_LEVEL: "silent",
    ...overrides,
  });
}
