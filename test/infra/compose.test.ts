// docker-compose.yml must parse (no engine needed: `docker compose config` only reads the file) and hand
// the app containers an environment that src/config.ts accepts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EnvSchema, loadConfig } from "../../src/config.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const composeFile = join(root, "docker-compose.yml");

/** `docker compose` (v2 plugin) or `docker-compose` (v1), whichever answers; null if neither */
function findCompose(): string[] | null {
  for (const cmd of [["docker", "compose"], ["docker-compose"]]) {
    const r = spawnSync(cmd[0], [...cmd.slice(1), "version"], { encoding: "utf8" });
    if (r.status === 0) return cmd;
  }
  return null;
}

const compose = findCompose();
const skip = compose ? false : "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)";

function runCompose(file: string, ...args: string[]) {
  const [bin, ...pre] = compose!;
  return spawnSync(bin, [...pre, "-f", file, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, COMPOSE_PROJECT_NAME: "maskforge" } });
}

describe("docker-compose.yml", () => {
  it("passes `compose config -q`", { skip }, () => {
    const r = runCompose(composeFile, "config", "-q");
    assert.equal(r.status, 0, `compose config failed:\n${r.stderr}`);
  });

  it("declares the whole stack", { skip }, () => {
    const r = runCompose(composeFile, "config", "--services");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").sort(), ["api", "createbucket", "migrate", "minio", "postgres", "redis", "worker"]);
  });

  it("reserves a GPU for the worker and builds the two Dockerfile targets", { skip }, () => {
    const r = runCompose(composeFile, "config");
    assert.equal(r.status, 0, r.stderr);
    const worker = r.stdout.slice(r.stdout.search(/^ {2}worker:$/m));
    assert.match(worker, /driver: nvidia/);
    assert.match(worker, /capabilities:\s*\n\s*- gpu/);
    assert.match(worker, /target: worker/);
    assert.match(r.stdout, /target: api/);
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    assert.match(dockerfile, /^FROM .* AS api$/m);
    assert.match(dockerfile, /^FROM .* AS worker$/m);
    assert.match(dockerfile, /tfjs-node-gpu/);
  });

  it("is checked for real: a broken file fails `compose config`", { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), "maskforge-compose-"));
    try {
      const broken = join(dir, "docker-compose.yml");
      writeFileSync(broken, readFileSync(composeFile, "utf8").replace("    restart: unless-stopped\n", "    restart: [not, a, string]\n"));
      assert.notEqual(runCompose(broken, "config", "-q").status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives the app containers only known settings, which src/config.ts accepts", () => {
    const text = readFileSync(composeFile, "utf8");
    const block = /^x-app-env: &app-env\n((?: {2}.*\n)+)/m.exec(text);
    assert.ok(block, "docker-compose.yml has an x-app-env block");
    const env: Record<string, string> = {};
    for (const line of block[1].split("\n").filter(Boolean)) {
      const m = /^ {2}([A-Z0-9_]+): "?(.*?)"?$/.exec(line);
      assert.ok(m, `unexpected line in x-app-env: ${line}`);
      // compose substitution with its default, as on a host that sets nothing
      env[m[1]] = m[2].replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1");
    }
    const known = new Set(Object.keys(EnvSchema.properties));
    for (const key of Object.keys(env)) assert.ok(known.has(key), `${key} is not a setting of src/config.ts`);
    const cfg = loadConfig(env);
    assert.equal(cfg.storage.driver, "s3");
    assert.deepEqual(cfg.storage.driver === "s3" && [cfg.storage.endpoint, cfg.storage.forcePathStyle], ["http://minio:9000", true]);
  });
});
