// An S3 server (s3rver) on a free loopback port with its own temp folder and the bucket made, so S3 code
// paths run in tests without MinIO or the network. In-process by default; `childProcess: true` runs it in
// its own process, for tests that measure this process's memory and must not count the server's.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

// the SDK warns once per process that Node 20 support ends in 2027: known, and noise in test output
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

// s3rver ships no types; this is the part of its API used here
interface S3rverOptions {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (opts: S3rverOptions) => S3rverInstance;
const require = createRequire(import.meta.url);

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** env overrides for testConfig(): STORAGE_DRIVER=s3 pointed at this server */
  env: Record<string, string>;
  /** stops the server and removes its folder */
  close(): Promise<void>;
}

/** runs s3rver in a child process; resolves with its port once it listens */
function runInChild(opts: S3rverOptions): Promise<{ port: number; close(): Promise<void> }> {
  const script = `
    const S3rver = require(${JSON.stringify(require.resolve("s3rver"))});
    const server = new S3rver(${JSON.stringify(opts)});
    server.run().then((a) => console.log(JSON.stringify({ port: a.port })), (e) => { console.error(e); process.exit(1); });
    process.stdin.on("end", () => process.exit(0)).resume();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`s3rver child exited with ${code} before listening`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const { port } = JSON.parse(line) as { port: number };
      resolve({
        port,
        async close() {
          child.stdin.end(); // the child exits when its stdin closes, also if this process dies
          await exited;
        },
      });
    });
  });
}

export async function startS3rver(opts: { bucket?: string; childProcess?: boolean } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? "maskforge-test";
  const directory = await mkdtemp(join(tmpdir(), "maskforge-s3rver-"));
  const serverOpts: S3rverOptions = { address: "127.0.0.1", port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] };
  let port: number;
  let stop: () => Promise<void>;
  if (opts.childProcess) {
    const child = await runInChild(serverOpts);
    port = child.port;
    stop = child.close;
  } else {
    const S3rver = require("s3rver") as S3rverClass;
    const server = new S3rver(serverOpts);
    port = (await server.run()).port;
    stop = () => server.close();
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: {
      STORAGE_DRIVER: "s3",
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_REGION: "us-east-1",
      S3_ACCESS_KEY_ID: "S3RVER",
      S3_SECRET_ACCESS_KEY: "S3RVER",
      S3_FORCE_PATH_STYLE: "true",
    },
    async close() {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
