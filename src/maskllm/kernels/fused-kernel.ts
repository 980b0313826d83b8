import * as tf from "@tensorflow/tfjs";

// TF.js kernels computed by our WebAssembly kernels (../kernels) on the backends whose tensors live in JS-visible
// memory: wasm (views of its heap) and cpu (its arrays). Other backends (webgpu, tensorflow) keep composite ops.

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** What a fused kernel sees of its backend: float32 inputs as arrays, and outputs to fill. */
export interface FusedKernelContext {
  read(t: tf.TensorInfo): Float32Array;
  /** allocates every output first, then hands out writable views (a wasm allocation can move the heap) */
  outputs(shapes: number[][], fill: (views: Float32Array[]) => void): tf.TensorInfo[];
}

const contexts: Record<string, (backend: unknown) => FusedKernelContext> = {
  wasm: (backend) => {
    const b = backend as WasmBackendLike;
    return {
      read: (t) => b.typedArrayFromHeap(t),
      outputs: (shapes, fill) => {
        const infos = shapes.map((s) => b.makeOutput(s, "float32"));
        fill(infos.map((i) => b.typedArrayFromHeap(i)));
        return infos;
      },
    };
  },
  cpu: (backend) => {
    const b = backend as CpuBackendLike;
    return {
      read: (t) => b.data.get(t.dataId).values as Float32Array,
      outputs: (shapes, fill) => {
        const arrays = shapes.map((s) => new Float32Array(tf.util.sizeFromShape(s)));
        fill(arrays);
        return arrays.map((a, i) => b.makeTensorInfo(shapes[i], "float32", a));
      },
    };
  },
};

/** Whether the current backend runs the fused kernels. */
export function fusedKernelsSupported(): boolean {
  return tf.getBackend() in contexts;
}

/** How a kernel registered for `backendName` reads and writes tensors, where fused kernels run there. */
export function fusedContext(backendName: string): ((backend: unknown) => FusedKernelContext) | undefined {
  return contexts[backendName];
}

type Run<A> = (ctx: FusedKernelContext, inputs: Record<string, tf.TensorInfo>, attrs: A) => tf.TensorInfo[];

/**
 * A kernel run by `run` on wasm and cpu, registered with TF.js on first use per backend. The returned function runs
 * it through the engine (so its outputs are tracked by tidy); fusedOp pairs two of them into a differentiable op.
 */
export function fusedKernel<A extends object>(kernelName: string, run: Run<A>): (inputs: Record<string, tf.Tensor>, attrs: A) => tf.Tensor[] {
  return (inputs, attrs) => {
    const backendName = tf.getBackend();
    const context = contexts[backendName];
    if (!context) throw new Error(`${kernelName} runs on the wasm and cpu backends, not ${backendName}`);
    if (tf.getKernel(kernelName, backendName) === undefined)
      tf.registerKernel({ kernelName, backendName, kernelFunc: ({ inputs: i, backend, attrs: a }) => run(context(backend), i as Record<string, tf.TensorInfo>, a as unknown as A) });
    return tf.engine().runKernel(kernelName, inputs as unknown as tf.NamedTensorMap, { ...attrs } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  };
}

/**
 * A differentiable op from a forward and a backward kernel (named `kernelName` and `kernelName`Grad). The forward
 * reads the tensors named `inputs` and returns the tensors named `outputs`, the first being the op's value; the
 * backward reads all of them by name plus `dy`, and returns one gradient per input, in order.
 */
export function fusedOp<A extends object>(
  kernelName: string,
  names: { inputs: string[]; outputs: string[] },
  forward: Run<A>,
  backward: Run<A>,
): (tensors: tf.Tensor[], attrs: A) => tf.Tensor {
  const runForward = fusedKernel(kernelName, forward);
  const runBackward = fusedKernel(`${kernelName}Grad`, backward);
  const byName = (keys: string[], tensors: tf.Tensor[]) => Object.fromEntries(keys.map((k, i) => [k, tensors[i]]));
  return (tensors, attrs) => {
    const op = tf.customGrad(((...args: unknown[]) => {
      const save = args.pop() as tf.GradSaveFunc;
      const inputs = args as tf.Tensor[];
      const outputs = runForward(byName(names.inputs, inputs), attrs);
      save([...inputs, ...outputs]);
      return {
        value: outputs[0],
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
          runBackward({ ...byName([...names.inputs, ...names.outputs], saved), dy: Array.isArray(dy) ? dy[0] : dy }, attrs),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...t: tf.Tensor[]) => tf.Tensor;
    return op(...tensors);
  };
}
