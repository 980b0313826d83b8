// The host trainer's threads (an Executor for src/maskllm/host): worker threads that each run their part of every
// large op while the calling thread runs part 0 and then waits on a shared counter (Atomics), so a step stays
// synchronous code and both cores work on each product. Every buffer the trainer allocates here is a
// SharedArrayBuffer registered with the threads once; an op travels as a small message naming buffers by id, so
// the frozen weights, the activations and ỹ/∂ỹ exist once however many threads there are. A part computes the
// same values on any thread (host/ops.ts), so the thread count never changes a run's result.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { InlineExecutor, opWork, runPart, type Executor, type HostOp } from "../maskllm/host/ops.js";
import { linearKernels } from "../maskllm/host/linear-kernels.js";
import { nativeKernelsMode } from "../native/kernels.js";

export class OpPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpPoolError";
  }
}

/** A typed array as a message names it: buffer id, byte offset, length, element type. */
export interface BufferRef {
  ref: number;
  offset: number;
  length: number;
  type: "f32" | "i32" | "f64" | "u16";
}

export type ToPoolThread =
  | { kind: "buffer"; id: number; sab: SharedArrayBuffer }
  | { kind: "op"; op: Record<string, unknown>; part: number; parts: number };

// ops below this many flops run on the calling thread alone: a round trip to a thread costs ~20-50 µs
const MIN_SPLIT_WORK = 4e6;
// how long the caller polls for the threads' parts before it sleeps on the counter
const SPIN_MS = 1;
// A thread that has not finished its part after this long (plus 10 s per GFLOP of the op, far slower than any
// machine here) is taken for dead: its exit cannot be seen while this thread waits.
const STALL_MS = 60_000;

function encode(v: unknown, ids: WeakMap<SharedArrayBuffer, number>): unknown {
  if (ArrayBuffer.isView(v)) {
    const sab = v.buffer instanceof SharedArrayBuffer ? v.buffer : undefined;
    const id = sab ? ids.get(sab) : undefined;
    if (id === undefined) return v; // a small array of the caller's own: copied with the message
    const type = v instanceof Float32Array ? "f32" : v instanceof Int32Array ? "i32" : v instanceof Float64Array ? "f64" : v instanceof Uint16Array ? "u16" : undefined;
    if (!type) throw new OpPoolError(`unsupported array type ${v.constructor.name}`);
    return { ref: id, offset: v.byteOffset, length: (v as Float32Array).length, type } satisfies BufferRef;
  }
  if (Array.isArray(v)) return v.map((x) => encode(x, ids));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x, ids)]));
  return v;
}

/** Buffers live as long as the pool (its threads keep them by id): a run starts a pool and closes it when done. */
export class OpPool implements Executor {
  private readonly ids = new WeakMap<SharedArrayBuffer, number>();
  private nextId = 0;
  // [0] parts done by the threads, [1] failures
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(8));
  private closed = false;

  private constructor(private readonly workers: Worker[], private readonly errors: MessagePort[], private readonly stallMs: number) {}

  /** `threads` in all, the caller's included (so threads − 1 workers). */
  static async start(threads: number, opts: { stallMs?: number } = {}): Promise<OpPool> {
    const n = Math.max(0, Math.floor(threads) - 1);
    const workers = Array.from({ length: n }, () => new Worker(new URL("./op-pool-thread.mjs", import.meta.url)));
    // one channel per thread for its error messages, read synchronously (receiveMessageOnPort) after a wait
    const channels = workers.map(() => new MessageChannel());
    // the threads take this thread's linear products (src/native), and must end up on the same ones: an op's
    // parts summed by different tiles would make the result depend on the thread count
    const kernels = linearKernels()?.isa() ?? "wasm";
    const pool = new OpPool(workers, channels.map((c) => c.port2), opts.stallMs ?? STALL_MS);
    try {
      await Promise.all(
        workers.map(
          (w, i) =>
            new Promise<void>((resolve, reject) => {
              w.once("message", (m: { kind: string; kernels?: string }) =>
                m.kind !== "ready"
                  ? reject(new OpPoolError(`training thread: ${JSON.stringify(m)}`))
                  : m.kernels !== kernels
                    ? reject(new OpPoolError(`a training thread runs its linear products on ${m.kernels}, this thread on ${kernels}`))
                    : resolve(),
              );
              w.once("error", (err) => reject(new OpPoolError(`training thread failed to start: ${err.message}`)));
              w.postMessage({ kind: "init", ctrl: pool.ctrl, errors: channels[i].port1, native: nativeKernelsMode() }, [channels[i].port1]);
            }),
        ),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private shared(bytes: number): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(bytes);
    const id = this.nextId++;
    this.ids.set(sab, id);
    for (const w of this.workers) w.postMessage({ kind: "buffer", id, sab } satisfies ToPoolThread);
    return sab;
  }

  f32(n: number): Float32Array {
    return new Float32Array(this.shared(n * 4));
  }

  i32(n: number): Int32Array {
    return new Int32Array(this.shared(n * 4));
  }

  f64(n: number): Float64Array {
    return new Float64Array(this.shared(n * 8));
  }

  shares(a: ArrayBufferView): boolean {
    return a.buffer instanceof SharedArrayBuffer && this.ids.has(a.buffer);
  }

  run(op: HostOp): void {
    if (this.closed) throw new OpPoolError("the training threads are closed");
    const parts = this.threads;
    if (parts === 1 || opWork(op) < MIN_SPLIT_WORK) return runPart(op, 0, 1);
    const msg = encode(op, this.ids) as Record<string, unknown>;
    Atomics.store(this.ctrl, 0, 0);
    this.workers.forEach((w, i) => w.postMessage({ kind: "op", op: msg, part: i + 1, parts } satisfies ToPoolThread));
    let mine: unknown;
    try {
      runPart(op, 0, parts);
    } catch (err) {
      mine = err;
    }
    const want = parts - 1;
    // the other parts usually end within microseconds of this one: poll briefly before sleeping (see op-pool-thread)
    for (const s0 = performance.now(); Atomics.load(this.ctrl, 0) < want && performance.now() - s0 < SPIN_MS; );
    const t0 = Date.now();
    const limit = this.stallMs + opWork(op) / 1e8;
    for (let done = Atomics.load(this.ctrl, 0); done < want; done = Atomics.load(this.ctrl, 0)) {
      if (Atomics.wait(this.ctrl, 0, done, Math.min(1000, limit)) === "timed-out" && Date.now() - t0 > limit) {
        this.closed = true; // its part may still land later: nothing more runs on this pool
        throw new OpPoolError(`a training thread did not finish its part of ${op.kind} within ${Math.round(limit / 1000)} s (it stopped or the machine is overloaded)`);
      }
    }
    if (mine) throw mine;
    if (Atomics.load(this.ctrl, 1) > 0) {
      Atomics.store(this.ctrl, 1, 0);
      const m = this.errors.map((p) => receiveMessageOnPort(p)?.message as { message?: string } | undefined).find((x) => x);
      throw new OpPoolError(`training thread: ${m?.message ?? "failed"}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.errors) p.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Runs fn on an executor over `threads` threads (a pool, or the calling thread alone for one), closed however fn ends. */
export async function withExecutor<T>(threads: number, fn: (exec: Executor) => Promise<T>): Promise<T> {
  const pool = threads > 1 ? await OpPool.start(threads) : undefined;
  try {
    return await fn(pool ?? new InlineExecutor());
  } finally {
    await pool?.close();
  }
}
