// What the WebAssembly kernels (assembly/*.ts, compiled into *-binary.ts) share on the JS side: instantiation from
// the generated base64, and a per-call layout of float32 buffers in the instance's own memory. One instance per
// module and thread, made on first use; its memory grows to the largest call seen and is reused.

export interface KernelInstance {
  memory: WebAssembly.Memory;
  heapBase(): number;
}

/**
 * The module's instance for this thread, made on the first call from the first build the runtime compiles (a build
 * using relaxed SIMD fails to compile where that feature is off: the next one, plain SIMD, is taken).
 */
export function lazyKernels<T extends KernelInstance>(...base64Builds: string[]): () => T {
  let instance: T | undefined;
  return () => {
    if (!instance) {
      let module: WebAssembly.Module | undefined;
      let failure: unknown;
      for (const b of base64Builds) {
        try {
          module = new WebAssembly.Module(Uint8Array.from(atob(b), (c) => c.charCodeAt(0)));
          break;
        } catch (err) {
          failure = err;
        }
      }
      if (!module) throw failure;
      instance = new WebAssembly.Instance(module, {}).exports as unknown as T;
    }
    return instance;
  };
}

/** Byte offsets of buffers of the given byte sizes, from the heap base, 16-byte aligned; grows the memory once. */
export function layout(k: KernelInstance, sizes: number[]): number[] {
  let at = (k.heapBase() + 15) & ~15;
  const offsets = sizes.map((n) => {
    const o = at;
    at += (n + 15) & ~15;
    return o;
  });
  const have = k.memory.buffer.byteLength;
  if (at > have) k.memory.grow(Math.ceil((at - have) / 65536));
  return offsets;
}

export function put(k: KernelInstance, at: number, values: Float32Array): void {
  new Float32Array(k.memory.buffer, at, values.length).set(values);
}

export function take(k: KernelInstance, at: number, out: Float32Array): void {
  out.set(new Float32Array(k.memory.buffer, at, out.length));
}

/**
 * One kernel call: lays out `inputs` (copied in), `outputs` and `scratchBytes` in k's memory, each buffer followed by
 * 16 bytes (kernels read whole vectors at row ends), calls `run` with their byte offsets (inputs, outputs, scratch),
 * and copies the outputs out.
 */
export function callKernel(k: KernelInstance, inputs: (Float32Array | Int32Array)[], outputs: Float32Array[], scratchBytes: number, run: (offsets: number[]) => void): void {
  const offsets = layout(k, [...inputs.map((a) => a.byteLength + 16), ...outputs.map((a) => a.byteLength + 16), scratchBytes]);
  inputs.forEach((a, i) => (a instanceof Int32Array ? new Int32Array(k.memory.buffer, offsets[i], a.length) : new Float32Array(k.memory.buffer, offsets[i], a.length)).set(a));
  run(offsets);
  outputs.forEach((a, i) => take(k, offsets[inputs.length + i], a));
}
