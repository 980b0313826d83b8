// An op-pool thread (op-pool.ts): keeps the pool's shared buffers by id and runs the parts of ops it is sent,
// counting each done (or failed) part on the shared counter the caller waits on.
import { parentPort, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { runPart, type HostOp } from "../maskllm/host/ops.js";
import { useNativeKernels, type NativeKernelsMode } from "../native/kernels.js";
import type { BufferRef, ToPoolThread } from "./op-pool.js";

const port = parentPort!;
const buffers = new Map<number, SharedArrayBuffer>();
let ctrl: Int32Array | undefined;
let errors: MessagePort | undefined;

function isRef(v: unknown): v is BufferRef {
  return !!v && typeof v === "object" && "ref" in v && "type" in v;
}

function decode(v: unknown): unknown {
  if (isRef(v)) {
    const sab = buffers.get(v.ref);
    if (!sab) throw new Error(`unknown buffer ${v.ref}`);
    if (v.type === "u16") return new Uint16Array(sab, v.offset, v.length);
    return v.type === "f32" ? new Float32Array(sab, v.offset, v.length) : v.type === "i32" ? new Int32Array(sab, v.offset, v.length) : new Float64Array(sab, v.offset, v.length);
  }
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v === "object" && !ArrayBuffer.isView(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  return v;
}

// After a part, the thread polls for the next op this long before it sleeps in the event loop: a step's ops come
// back to back, and a thread woken from sleep for each one started late (the caller's wait after a small op, such
// as packing a weight at the 42M shape, averaged ~0.2 ms here, a quarter of the op).
const SPIN_MS = 1;

type Message = ToPoolThread | { kind: "init"; ctrl: Int32Array; errors?: MessagePort; native: NativeKernelsMode };

port.on("message", (first: Message) => {
  handle(first);
  if (first.kind !== "op") return;
  for (let t0 = performance.now(); performance.now() - t0 < SPIN_MS; ) {
    const next = receiveMessageOnPort(port);
    if (!next) continue;
    handle(next.message as Message);
    t0 = performance.now();
  }
});

function handle(msg: Message): void {
  if (msg.kind === "init") {
    ctrl = msg.ctrl;
    errors = msg.errors;
    // the pool's owner compares these with its own
    port.postMessage({ kind: "ready", kernels: useNativeKernels(msg.native).kernels });
  } else if (msg.kind === "buffer") buffers.set(msg.id, msg.sab);
  else {
    const c = ctrl!;
    try {
      runPart(decode(msg.op) as HostOp, msg.part, msg.parts);
    } catch (err) {
      errors?.postMessage({ message: err instanceof Error ? err.message : String(err) });
      Atomics.add(c, 1, 1);
    }
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
  }
}
