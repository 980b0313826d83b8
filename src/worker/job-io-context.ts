import type { PrismaClient } from "@prisma/client";
import type { Config } from "../config.js";
import type { BlobStore } from "../storage/index.js";

/** What a stage needs to bring a job's inputs (model files, text) onto this machine. */
export interface JobIoContext {
  config: Config;
  prisma: PrismaClient;
  store: BlobStore;
  /** tenant whose uploads the job may read */
  tenantId: string | null;
  /** scratch folder the downloads go into */
  dir: string;
  signal?: AbortSignal;
}
