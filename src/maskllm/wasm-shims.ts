// Kernels of the WASM backend of TF.js 4.22 that training and evaluation need but that are missing or slow.
// - UnsortedSegmentSum is missing: it is the gradient of gather, so without it any gradient through tf.gather fails.
// - Slice, SplitV and Unpack read their input with backend.readSync, which copies the WHOLE input out of the wasm
//   heap for every slice (slicing 10 values of a 16 MB tensor measured 180 ms). These versions read heap views,
//   so a slice costs what it copies. Identity (used all over the gradients) had the same whole-copy-through-JS path.
import * as tf from "@tensorflow/tfjs";

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function sliceInto(b: WasmBackendLike, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const out = b.makeOutput(size, x.dtype);
  if (size.some((d) => d === 0)) return out;
  // views are taken after makeOutput: an allocation may grow the heap and detach older views
  const xv = b.typedArrayFromHeap(x);
  const ov = b.typedArrayFromHeap(out);
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    // computeFlatOffset([], []) is undefined: a scalar (rank 0) starts at 0, or its clone would copy nothing
    const off = x.shape.length === 0 ? 0 : tf.slice_util.computeFlatOffset(begin, strides);
    ov.set(xv.subarray(off, off + ov.length));
    return out;
  }
  const rank = x.shape.length;
  const row = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0); // odometer over all axes but the last
  for (let o = 0; o < ov.length; o += row) {
    let src = begin[rank - 1];
    for (let a = 0; a < rank - 1; a++) src += (begin[a] + idx[a]) * strides[a];
    ov.set(xv.subarray(src, src + row), o);
    for (let a = rank - 2; a >= 0; a--) {
      if (++idx[a] < size[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

function override(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, "wasm") !== undefined) tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
}

let registered = false;

export function registerWasmShims(): void {
  if (registered || tf.getBackend() !== "wasm") return;
  registered = true;

  override("Slice", ({ inputs, backend, attrs }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { begin, size } = attrs as unknown as { begin: number[]; size: number[] };
    if (x.dtype === "string") throw new Error("Slice of string tensors is not supported on wasm here");
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceInto(backend as unknown as WasmBackendLike, x, b, s);
  });

  override("Identity", ({ inputs, backend }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === "string") throw new Error("Identity of string tensors is not supported on wasm here");
    return sliceInto(backend as unknown as WasmBackendLike, x, new Array<number>(x.shape.length).fill(0), x.shape.slice());
  });

  override("SplitV", ({ inputs, backend, attrs }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    const size = x.shape.slice();
    return sizes.map((s) => {
      size[$axis] = s;
      const out = sliceInto(backend as unknown as WasmBackendLike, x, begin, size.slice());
      begin[$axis] += s;
      return out;
    });
  });

  override("Unpack", ({ inputs, backend, attrs }) => {
    const value = (inputs as { value: tf.TensorInfo }).value;
    let axis = (attrs as unknown as { axis: number }).axis;
    if (axis < 0) axis += value.shape.length;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const begin = new Array<number>(value.shape.length).fill(0);
    const size = value.shape.slice();
    size[axis] = 1;
    return Array.from({ length: value.shape[axis] }, (_, i) => {
      begin[axis] = i;
      const out = sliceInto(backend as unknown as WasmBackendLike, value, begin, size);
      return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
    });
  });

  if (tf.getKernel("UnsortedSegmentSum", "wasm") === undefined)
    tf.registerKernel({
      kernelName: "UnsortedSegmentSum",
      backendName: "wasm",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
        const numSegments = (attrs as { numSegments: number }).numSegments;
        const b = backend as unknown as WasmBackendLike;
        const ids = b.readSync(segmentIds.dataId);
        const inner = ids.length === 0 ? 0 : tf.util.sizeFromShape(x.shape) / ids.length;
        const out = b.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
        const xv = b.typedArrayFromHeap(x);
        const ov = b.typedArrayFromHeap(out);
        ov.fill(0);
        for (let i = 0; i < ids.length; i++) {
          const seg = ids[i];
          if (seg < 0 || seg >= numSegments) continue; // TF semantics: out-of-range ids are dropped
          const src = i * inner;
          const dst = seg * inner;
          for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
        }
        return out;
      },
    });
}
