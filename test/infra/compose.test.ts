// docker-compose.yml must parse (no engine needed: `docker compose config` only reads the file) and hand
// the app containers an environment that src/config.ts accepts. Where no compose client is installed, the file
// is still read as YAML (merge keys and ${VAR:-default} resolved as compose does for a host that sets nothing)
// and its services, published ports, volumes and the worker's GPU reservation are checked on the parsed document.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
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

// ---- the same file read as YAML, so every machine checks it

type Doc = Record<string, any>;

/** compose's interpolation as on a host that sets nothing: ${VAR:-default} is the default, ${VAR} is empty, $$ is $ */
function interpolate(v: unknown): unknown {
  if (typeof v === "string") return v.replace(/\$\$|\$\{[A-Z0-9_]+(?::-([^}]*))?\}/g, (m, dflt?: string) => (m === "$$" ? "$" : (dflt ?? "")));
  if (Array.isArray(v)) return v.map(interpolate);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x)]));
  return v;
}

const readCompose = (text: string): Doc => interpolate(parse(text, { merge: true })) as Doc;
const composeText = readFileSync(composeFile, "utf8");

/** "[ip:]host:container" → its parts (compose's short syntax, which this file uses) */
function portsOf(service: Doc): { ip: string | null; host: string; container: string }[] {
  return (service.ports ?? []).map((p: unknown) => {
    assert.equal(typeof p, "string", `ports use the short syntax: ${JSON.stringify(p)}`);
    const parts = (p as string).split(":");
    assert.ok(parts.length === 2 || parts.length === 3, `port ${p as string}`);
    return parts.length === 3 ? { ip: parts[0], host: parts[1], container: parts[2] } : { ip: null, host: parts[0], container: parts[1] };
  });
}

/** "source:target[:mode]" → its parts; a source that is not a path is a named volume */
function volumesOf(service: Doc): { source: string; target: string; mode: string; named: boolean }[] {
  return (service.volumes ?? []).map((v: string) => {
    const [source, target, mode = "rw"] = v.split(":");
    return { source, target, mode, named: !/^[./~]/.test(source) };
  });
}

const checks = {
  services(doc: Doc) {
    assert.deepEqual(Object.keys(doc.services).sort(), ["api", "createbucket", "migrate", "minio", "postgres", "redis", "worker"]);
    for (const [name, s] of Object.entries<Doc>(doc.services)) assert.ok(s.image || s.build, `${name} has an image or a build`);
  },

  ports(doc: Doc) {
    const published = Object.fromEntries(Object.entries<Doc>(doc.services).map(([name, s]) => [name, portsOf(s)]));
    // the API is the one public door; MinIO's console is for the host only; the stores are not published at all
    assert.deepEqual(Object.keys(published).filter((n) => published[n].length > 0).sort(), ["api", "minio"]);
    assert.deepEqual(published.api, [{ ip: null, host: "3000", container: doc.services.api.environment.PORT }]);
    assert.deepEqual(published.minio, [{ ip: "127.0.0.1", host: "9001", container: "9001" }]);
  },

  volumes(doc: Doc) {
    const declared = Object.keys(doc.volumes ?? {}).sort();
    assert.deepEqual(declared, ["miniodata", "pgdata", "redisdata"]);
    const named = Object.entries<Doc>(doc.services).flatMap(([name, s]) => volumesOf(s).filter((v) => v.named).map((v) => `${v.source} ${name} ${v.target}`));
    // each store keeps its data in its own named volume, where its image writes it
    assert.deepEqual(named.sort(), ["miniodata minio /data", "pgdata postgres /var/lib/postgresql/data", "redisdata redis /data"]);
    // the app containers read the shared models and data at SHARED_DIR, and never write there
    for (const name of ["api", "worker"]) {
      const shared = volumesOf(doc.services[name]).filter((v) => !v.named);
      assert.deepEqual(shared.map((v) => [v.target, v.mode]), [[doc["x-app-env"].SHARED_DIR, "ro"]], name);
      assert.equal(doc.services[name].environment.SHARED_DIR, "/shared", name);
    }
  },

  gpu(doc: Doc) {
    const devices = (s: Doc) => s.deploy?.resources?.reservations?.devices ?? [];
    assert.deepEqual(devices(doc.services.worker), [{ driver: "nvidia", count: "all", capabilities: ["gpu"] }]);
    for (const [name, s] of Object.entries<Doc>(doc.services)) if (name !== "worker") assert.deepEqual(devices(s), [], `${name} reserves no device`);
    // the GPU image is the worker's target, and the worker runs TF.js on the tensorflow (CUDA) backend
    assert.equal(doc.services.worker.build.target, "worker");
    assert.equal(doc.services.worker.environment.TF_BACKEND, "tensorflow");
    assert.deepEqual([doc.services.api.build.target, doc.services.migrate.build.target], ["api", "api"]);
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    for (const target of ["api", "worker"]) assert.match(dockerfile, new RegExp(`^FROM .* AS ${target}$`, "m"));
  },

  startOrder(doc: Doc) {
    // a service waited on as healthy must have a health check, or compose never starts what waits on it
    for (const [name, s] of Object.entries<Doc>(doc.services))
      for (const [dep, cond] of Object.entries<Doc>(Array.isArray(s.depends_on) ? {} : (s.depends_on ?? {}))) {
        assert.ok(doc.services[dep], `${name} depends on ${dep}, which is not a service`);
        if (cond.condition === "service_healthy") assert.ok(doc.services[dep].healthcheck, `${name} waits for ${dep} to be healthy, which has no healthcheck`);
      }
    for (const name of ["api", "worker"]) assert.equal(doc.services[name].depends_on.migrate.condition, "service_completed_successfully", name);
  },
};

describe("docker-compose.yml, read as YAML (no compose client needed)", () => {
  const doc = readCompose(composeText);
  it("declares the whole stack", () => checks.services(doc));
  it("publishes only the API and, on loopback, MinIO's console", () => checks.ports(doc));
  it("keeps each store's data in its own named volume and mounts the shared assets read-only", () => checks.volumes(doc));
  it("reserves every NVIDIA GPU for the worker alone, and builds the two Dockerfile targets", () => checks.gpu(doc));
  it("starts the app after the migration, and waits as healthy only on services with a health check", () => checks.startOrder(doc));

  it("is checked for real: each check fails on a file that breaks it", () => {
    const broken: [keyof typeof checks, (text: string) => string][] = [
      ["services", (t) => t.replace("\n  redis:\n", "\n  cache:\n")],
      ["ports", (t) => t.replace('"127.0.0.1:9001:9001"', '"9001:9001"')],
      ["ports", (t) => t.replace("    restart: unless-stopped\n\n  redis:", '    ports:\n      - "5432:5432"\n    restart: unless-stopped\n\n  redis:')],
      ["volumes", (t) => t.replace("/shared:ro", "/shared")],
      ["volumes", (t) => t.replace("- redisdata:/data", "- pgdata:/data")],
      ["gpu", (t) => t.replace("capabilities: [gpu]", "capabilities: [compute]")],
      ["gpu", (t) => t.replace("              count: all\n", "              count: 1\n")],
      ["startOrder", (t) => t.replace("      redis:\n        condition: service_healthy", "      minio:\n        condition: service_healthy")],
    ];
    for (const [check, edit] of broken) {
      const text = edit(composeText);
      assert.notEqual(text, composeText, `the edit for ${check} found its text`);
      assert.throws(() => checks[check](readCompose(text)), assert.AssertionError, `${check} passes a broken file`);
    }
  });
});
