// Owns the blob store named by the configuration; closed when the app closes.
import fp from "fastify-plugin";
import type { Config } from "../../../config.js";
import { createBlobStore, type BlobStore } from "../../../storage/index.js";

declare module "fastify" {
  interface FastifyInstance {
    storage: BlobStore;
  }
}

export default fp<{ storage: Config["storage"] }>(
  async (app, opts) => {
    const storage = createBlobStore(opts.storage);
    app.decorate("storage", storage);
    app.addHook("onClose", async () => {
      await storage.close();
    });
  },
  { name: "storage" },
);
