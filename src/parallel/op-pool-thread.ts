// An op-pool thread (op-pool.ts): after its init message it stays in one loop. It polls the shared op number between
// ops and sleeps on it when idle; for each new op it claims atoms from the back until none are left, reads the op
// from the shared slot on its first claim, runs each claimed range, and adds the atoms done (or failed) to the
// counter the caller waits on. Buffers and larger slots arrive as messages, posted before the op that uses them, and
// are taken synchronously before each op is read.
import { parentPort, receiveMessageOnPort } from "node:worker_threads";
import { runRange, splitAxis, type HostOp } from "../maskllm/host/ops.js";
import { useNativeKernels } from "../native/kernels.js";
import { claim, CTRL, type ArrayRef, type ToPoolThread } from "./op-pool.js";

const port = parentPort!;
const buffers = new Map<number, SharedArrayBuffer>();
let slot: Uint8Array<SharedArrayBuffer> | undefined;

function isRef(v: object): v is ArrayRef {
  return "type" in v && ("ref" in v || "inline" in v);
}

function decode(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (!v || typeof v !== "object") return v;
  if ("nonFinite" in v) return Number(v.nonFinite);
  if (isRef(v)) {
    if ("inline" in v) {
      const a = v.inline;
      return v.type === "f32" ? Float32Array.from(a) : v.type === "i32" ? Int32Array.from(a) : v.type === "f64" ? Float64Array.from(a) : Uint16Array.from(a);
    }
    const sab = buffers.get(v.ref);
    if (!sab) throw new Error(`unknown buffer ${v.ref}`);
    const { offset: o, length: n } = v;
    return v.type === "f32" ? new Float32Array(sab, o, n) : v.type === "i32" ? new Int32Array(sab, o, n) : v.type === "f64" ? new Float64Array(sab, o, n) : new Uint16Array(sab, o, n);
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
}

// After an op, the thread polls for the next this long before it sleeps: a step's ops come back to back, and a
// thread woken from sleep for each one started late (30-60 µs after the caller at the 42M shape, when ops were
// messages).
const SPIN_MS = 2;

// Messages come through the listener until the loop starts and through receiveMessageOnPort after it (the loop never
// returns to the event loop), always to this one handler.
function handle(msg: ToPoolThread): void {
  if (msg.kind === "buffer") buffers.set(msg.id, msg.sab);
  else if (msg.kind === "slot") slot = new Uint8Array(msg.sab);
  else {
    slot = new Uint8Array(msg.slot);
    // the pool's owner compares these with its own
    port.postMessage({ kind: "ready", kernels: useNativeKernels(msg.native).kernels });
    setImmediate(() => serve(msg));
  }
}
port.on("message", handle);

function serve({ ctrl, claims, threads, errors }: Extract<ToPoolThread, { kind: "init" }>): void {
  const text = new TextDecoder();
  let seen = Atomics.load(ctrl, CTRL.seq);
  for (;;) {
    let seq = Atomics.load(ctrl, CTRL.seq);
    for (const t0 = performance.now(); seq === seen && performance.now() - t0 < SPIN_MS; ) seq = Atomics.load(ctrl, CTRL.seq);
    while (seq === seen) {
      Atomics.wait(ctrl, CTRL.seq, seen, 1000);
      seq = Atomics.load(ctrl, CTRL.seq);
    }
    if (Atomics.load(ctrl, CTRL.closed)) return;
    seen = seq;
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) handle(m.message as ToPoolThread);
    let op: HostOp | undefined;
    let failed = false;
    for (let c = claim(claims, seq, threads, true); c; c = claim(claims, seq, threads, true)) {
      // a claim made, the op's text stays as it is until this thread counts its atoms done
      if (!failed)
        try {
          // (decoded from a copy: TextDecoder does not read shared memory)
          op ??= decode(JSON.parse(text.decode(slot!.slice(0, Atomics.load(ctrl, CTRL.length))))) as HostOp;
          const { items, atom } = splitAxis(op);
          runRange(op, c[0] * atom, Math.min(items, c[1] * atom));
        } catch (err) {
          errors.postMessage({ message: err instanceof Error ? err.message : String(err) });
          Atomics.add(ctrl, CTRL.failed, 1);
          failed = true;
        }
      Atomics.add(ctrl, CTRL.done, c[1] - c[0]);
      Atomics.notify(ctrl, CTRL.done);
    }
  }
}
