// Picks the blob store the configuration names; callers see only the BlobStore interface.
import type { Config } from "../config.js";
import type { BlobStore } from "./blob-store.js";
import { LocalBlobStore } from "./local-blob-store.js";
import { S3BlobStore } from "./s3-blob-store.js";

export * from "./blob-store.js";
export { assertValidKey, assertValidPrefix, MAX_KEY_BYTES, checkpointFileKey, checkpointPrefix, dataFileKey, jobMaskKey, jobModelKey, jobModelPrefix, jobPrefix, jobSnapshotKey, jobSnapshotPrefix } from "./keys.js";
export { contentDisposition } from "./content-disposition.js";
export { LocalBlobStore } from "./local-blob-store.js";
export { S3BlobStore, type S3StorageConfig } from "./s3-blob-store.js";

export function createBlobStore(storage: Config["storage"]): BlobStore {
  return storage.driver === "s3" ? new S3BlobStore(storage) : new LocalBlobStore(storage);
}
