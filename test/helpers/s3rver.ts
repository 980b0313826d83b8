// An in-process S3 server (s3rver) on a free loopback port with its own temp folder and the bucket made,
// so S3 code paths run in tests without MinIO or the network.
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

// s3rver ships no types; this is the part of its API used here
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (opts: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverInstance;
// the SDK warns once per process that Node 20 support ends in 2027: known, and noise in test output
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** env overrides for testConfig(): STORAGE_DRIVER=s3 pointed at this server */
  env: Record<string, string>;
  /** stops the server and removes its folder */
  close(): Promise<void>;
}

export async function startS3rver(opts: { bucket?: string } = {}): Promise<TestS3> {
  const bucket = opts.bucket ?? "maskforge-test";
  const directory = await mkdtemp(join(tmpdir(), "maskforge-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
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
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
