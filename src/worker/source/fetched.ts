// What every source fetcher hands the pipeline: a local HF folder and a record of what it read.
import type { StoredFile } from "../files.js";

export interface FetchedSource {
  dir: string;
  files: StoredFile[];
  /** digest of the folder (files.ts folderDigest), or the uploaded checkpoint's recorded one */
  sha256: string;
  checkpointId?: string;
  /** for the model card: where the model came from, without secrets */
  description: string;
}
