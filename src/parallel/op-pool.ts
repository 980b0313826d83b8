// The host trainer's threads (an Executor for src/maskllm/host): the calling thread and worker threads share out the
// pieces of every large op (claims, below) and the caller then waits on a shared counter (Atomics), so a step stays
// synchronous code and every core works on each product. Every buffer the trainer allocates here is a
// SharedArrayBuffer registered with the threads once; an op is written as a small JSON text naming buffers by id
// into a shared slot, and its number in a shared word tells the threads (which poll it between ops, then sleep on
// it), so the frozen weights, the activations and ỹ/∂ỹ exist once however many threads there are. A piece computes
// the same values on any thread (host/ops.ts), so neither the thread count nor the claims change a run's result.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { InlineExecutor, opWork, runRange, splitAxis, type Executor, type HostOp } from "../maskllm/host/ops.js";
import { linearKernels } from "../maskllm/host/linear-kernels.js";
import { nativeKernelsMode, type NativeKernelsMode } from "../native/kernels.js";

export class OpPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpPoolError";
  }
}

export type ElementType = "f32" | "i32" | "f64" | "u16";

/** A typed array as an op's text names it: a shared buffer by id, byte offset and length; else its values inline. */
export type ArrayRef = { ref: number; offset: number; length: number; type: ElementType } | { inline: number[]; type: ElementType };

export type ToPoolThread =
  | { kind: "init"; ctrl: Int32Array; claims: BigInt64Array; slot: SharedArrayBuffer; threads: number; errors: MessagePort; native: NativeKernelsMode }
  | { kind: "buffer"; id: number; sab: SharedArrayBuffer }
  | { kind: "slot"; sab: SharedArrayBuffer };

/** The shared control words (Int32), the same in op-pool-thread.ts. */
export const CTRL = {
  /** atoms of the current op done by the worker threads */
  done: 0,
  /** claims that failed */
  failed: 1,
  /** the current op's number: a thread claims atoms of each new one */
  seq: 2,
  /** bytes of the op's text in the slot */
  length: 3,
  /** set when the pool closes */
  closed: 4,
} as const;

// An op's atoms (host/ops.ts splitAxis) are claimed by the threads from one 64-bit word, (op number << 32) |
// (front << 16) | back: the caller takes from the front, the others from the back, each a quarter of what is left per
// thread (guided scheduling: large pieces first, small ones at the end), so a thread that starts late or is paused by
// the system does fewer atoms instead of holding the others up, and each thread's rows stay mostly contiguous.
const SEQ_LIMIT = 1 << 30;

export function claimWord(seq: number, front: number, back: number): bigint {
  return (BigInt(seq) << 32n) | BigInt(front * 0x10000 + back);
}

/** Claims atoms [a0, a1) of op number seq from one end, or undefined when none are left (or seq is over). */
export function claim(word: BigInt64Array, seq: number, threads: number, fromBack: boolean): [number, number] | undefined {
  for (;;) {
    const old = Atomics.load(word, 0);
    if (Number(old >> 32n) !== seq) return undefined;
    const low = Number(old & 0xffffffffn);
    const front = Math.floor(low / 0x10000);
    const back = low % 0x10000;
    if (back <= front) return undefined;
    const n = Math.ceil((back - front) / (2 * threads));
    const next = fromBack ? claimWord(seq, front, back - n) : claimWord(seq, front + n, back);
    if (Atomics.compareExchange(word, 0, old, next) === old) return fromBack ? [back - n, back] : [front, front + n];
  }
}

// ops below this many flops run on the calling thread alone: sharing one out costs tens of µs (a 200K-element
// SwiGLU split in two took 35-45 µs longer than its half alone)
const MIN_SPLIT_WORK = 4e6;
// how long the caller polls for the threads' parts before it sleeps on the counter
const SPIN_MS = 1;
// an op's text (buffer ids and scalars) takes well under a kilobyte; the slot grows when one does not fit
const SLOT_BYTES = 1 << 16;
// an array that is not shared travels by value in the op's text: fine for S (c × m floats), a bug past this
const MAX_INLINE = 4096;
// A thread that has not finished its claim after this long (plus 10 s per GFLOP of the op, far slower than any
// machine here) is taken for dead: its exit cannot be seen while this thread waits.
const STALL_MS = 60_000;

function encode(v: unknown, ids: WeakMap<SharedArrayBuffer, number>): unknown {
  if (ArrayBuffer.isView(v)) {
    const type = v instanceof Float32Array ? "f32" : v instanceof Int32Array ? "i32" : v instanceof Float64Array ? "f64" : v instanceof Uint16Array ? "u16" : undefined;
    if (!type) throw new OpPoolError(`unsupported array type ${v.constructor.name}`);
    const a = v as Float32Array;
    const id = v.buffer instanceof SharedArrayBuffer ? ids.get(v.buffer) : undefined;
    if (id !== undefined) return { ref: id, offset: v.byteOffset, length: a.length, type } satisfies ArrayRef;
    // a small array of the caller's own
    if (a.length > MAX_INLINE) throw new OpPoolError(`a ${a.length}-element array that the training threads do not share`);
    return { inline: Array.from(a), type } satisfies ArrayRef;
  }
  if (Array.isArray(v)) return v.map((x) => encode(x, ids));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x, ids)]));
  // JSON would turn these into null (a diverged step's clipping coefficient is NaN, and must stay NaN on every thread)
  if (typeof v === "number" && !Number.isFinite(v)) return { nonFinite: String(v) };
  return v;
}

/** Buffers live as long as the pool (its threads keep them by id): a run starts a pool and closes it when done. */
export class OpPool implements Executor {
  private readonly ids = new WeakMap<SharedArrayBuffer, number>();
  private nextId = 0;
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(8 * 4));
  // the current op's claim word (claimWord)
  private readonly claims = new BigInt64Array(new SharedArrayBuffer(8));
  private slot = new Uint8Array(new SharedArrayBuffer(SLOT_BYTES));
  private readonly text = new TextEncoder();
  private seq = 0;
  private closed = false;
  // a thread's exit, seen when the event loop runs (between steps): the next op fails instead of stalling
  private exited: string | undefined;

  private constructor(private readonly workers: Worker[], private readonly errors: MessagePort[], private readonly stallMs: number) {
    workers.forEach((w, i) => w.once("exit", (code) => (this.exited ??= `training thread ${i + 1} stopped (exit code ${code})`)));
  }

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
              const init: ToPoolThread = { kind: "init", ctrl: pool.ctrl, claims: pool.claims, slot: pool.slot.buffer as SharedArrayBuffer, threads: n + 1, errors: channels[i].port1, native: nativeKernelsMode() };
              w.postMessage(init, [channels[i].port1]);
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

  private post(msg: ToPoolThread): void {
    for (const w of this.workers) w.postMessage(msg);
  }

  private shared(bytes: number): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(bytes);
    const id = this.nextId++;
    this.ids.set(sab, id);
    this.post({ kind: "buffer", id, sab });
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

  /** Writes op's text into the slot (a larger one first when it does not fit); its length in bytes. */
  private write(op: HostOp): number {
    const json = JSON.stringify(encode(op, this.ids));
    const fits = this.text.encodeInto(json, this.slot);
    if (fits.read === json.length) return fits.written;
    this.slot = new Uint8Array(new SharedArrayBuffer(2 * Buffer.byteLength(json)));
    // posted before the op's number is: a thread takes its messages before it reads the op
    this.post({ kind: "slot", sab: this.slot.buffer as SharedArrayBuffer });
    return this.text.encodeInto(json, this.slot).written;
  }

  run(op: HostOp): void {
    if (this.closed) throw new OpPoolError("the training threads are closed");
    if (this.exited) {
      this.closed = true;
      throw new OpPoolError(this.exited);
    }
    const { items, atom } = splitAxis(op);
    const atoms = Math.ceil(items / atom);
    if (this.threads === 1 || atoms < 2 || opWork(op) < MIN_SPLIT_WORK) return runRange(op, 0, items);
    const { ctrl, claims } = this;
    Atomics.store(ctrl, CTRL.length, this.write(op));
    Atomics.store(ctrl, CTRL.done, 0);
    // a thread still on an earlier op finds that op's claims gone (its number is in every claim) and takes none
    this.seq = (this.seq + 1) % SEQ_LIMIT;
    Atomics.store(claims, 0, claimWord(this.seq, 0, atoms));
    Atomics.store(ctrl, CTRL.seq, this.seq);
    Atomics.notify(ctrl, CTRL.seq);
    let mine = 0;
    let failure: unknown;
    for (let c = claim(claims, this.seq, this.threads, false); c; c = claim(claims, this.seq, this.threads, false)) {
      // after a failure the rest is claimed but not run, so that every atom is accounted for
      if (failure === undefined)
        try {
          runRange(op, c[0] * atom, Math.min(items, c[1] * atom));
        } catch (err) {
          failure = err;
        }
      mine += c[1] - c[0];
    }
    const want = atoms - mine;
    // the threads' last claims usually end within microseconds of this one: poll briefly before sleeping
    for (const s0 = performance.now(); Atomics.load(ctrl, CTRL.done) < want && performance.now() - s0 < SPIN_MS; );
    const t0 = Date.now();
    const limit = this.stallMs + opWork(op) / 1e8;
    for (let done = Atomics.load(ctrl, CTRL.done); done < want; done = Atomics.load(ctrl, CTRL.done)) {
      if (Atomics.wait(ctrl, CTRL.done, done, Math.min(1000, limit)) === "timed-out" && Date.now() - t0 > limit) {
        this.closed = true; // its part may still land later: nothing more runs on this pool
        throw new OpPoolError(`a training thread did not finish its part of ${op.kind} within ${Math.round(limit / 1000)} s (it stopped or the machine is overloaded)`);
      }
    }
    if (failure !== undefined) throw failure;
    if (Atomics.load(ctrl, CTRL.failed) > 0) {
      Atomics.store(ctrl, CTRL.failed, 0);
      const m = this.errors.map((p) => receiveMessageOnPort(p)?.message as { message?: string } | undefined).find((x) => x);
      throw new OpPoolError(`training thread: ${m?.message ?? "failed"}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    // wakes the threads from their wait on the op number, so they leave their loop
    Atomics.store(this.ctrl, CTRL.closed, 1);
    Atomics.add(this.ctrl, CTRL.seq, 1);
    Atomics.notify(this.ctrl, CTRL.seq);
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
