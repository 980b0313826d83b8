// Entry file of an op-pool thread: registers tsx's ESM loader in the thread (a worker thread does not inherit a
// loader registered through the API, only `--import` flags), then runs the TypeScript thread body.
import { register } from "tsx/esm/api";

register();
await import("./op-pool-thread.ts");
