// Entry file of the BullMQ sandbox (a forked child process): registers tsx's ESM loader in the child, which
// does not inherit the parent's `--import tsx`, then loads the TypeScript processor.
import { register } from "tsx/esm/api";

register();
const mod = await import("./sandbox.ts");
export default mod.default;
