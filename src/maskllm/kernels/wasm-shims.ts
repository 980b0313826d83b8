// Kernels of the WASM backend of TF.js 4.22 that training and evaluation need but that are missing or slow.
// - UnsortedSegmentSum is missing: it is the gradient of gather, so without it any gradient through tf.gather fails.
// - Slice, SplitV and Unpack read their input with backend.readSync, which copies the WHOLE input out of the wasm
//   heap for every slice (slicing 10 values of a 16 MB tensor measured 180 ms). These versions read heap views,
//   so a slice costs what it copies.
// - Identity (used all over the gradients) copied its input; tensors are immutable, so it now shares the buffer as
//   Reshape does (the cpu and webgl backends do the same).
// - GatherV2 ran a generic per-element loop (1.9 ms for the [tokens] embedding lookup of a [512, 64] table); a gather
//   of whole rows (axis 0) is one row copy per index.
// - Transpose ran a generic strided loop at 6-9 ns per element (0.96 ms for a [512, 256] score matrix, the largest
//   single cost of a training step); the loop below over heap views runs about 4x faster.
import * as tf from "@tensorflow/tfjs";

interface WasmBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  incRef(dataId: object): void;
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

type TypedArray = Float32Array | Int32Array | Uint8Array;

/** out = x permuted by perm (out.shape[k] = x.shape[perm[k]]), reading and writing heap views. */
export function transposeInto(xv: TypedArray, ov: TypedArray, shape: number[], perm: number[]): void {
  // Size-1 axes move no data: drop them. Then merge output axes whose input axes are adjacent and in order, so
  // [b, s, h, d] → [b, h, s, d] runs as a 3-D copy with contiguous rows of d.
  const rank = shape.length;
  const newIndex = new Array<number>(rank).fill(-1);
  const sizes: number[] = [];
  for (let a = 0; a < rank; a++)
    if (shape[a] !== 1) {
      newIndex[a] = sizes.length;
      sizes.push(shape[a]);
    }
  const p = perm.filter((a) => shape[a] !== 1).map((a) => newIndex[a]);
  const inStrides = new Array<number>(sizes.length);
  for (let a = sizes.length - 1, st = 1; a >= 0; a--) {
    inStrides[a] = st;
    st *= sizes[a];
  }
  const dims: number[] = [];
  const strides: number[] = [];
  for (let k = 0; k < p.length; k++) {
    const last = dims.length - 1;
    if (k > 0 && p[k] === p[k - 1] + 1) {
      dims[last] *= sizes[p[k]];
      strides[last] = inStrides[p[k]];
    } else {
      dims.push(sizes[p[k]]);
      strides.push(inStrides[p[k]]);
    }
  }
  const r = dims.length;
  if (r <= 1) ov.set(xv);
  else if (r === 2) transpose2d(xv, ov, dims[1], dims[0]); // merging leaves only a true [R, C] → [C, R] here
  else if (r === 3 && strides[2] === 1) copyRuns3d(xv, ov, dims, strides);
  else transposeStrided(xv, ov, dims, strides);
}

// Separate small functions keep each loop monomorphic for V8 (one element type, one shape of access).

/** x [rows, cols] → out [cols, rows], eight output rows per pass so each input row is read eight values at a time. */
function transpose2d(xv: TypedArray, ov: TypedArray, rows: number, cols: number): void {
  let j = 0;
  for (; j + 8 <= cols; j += 8) {
    const d0 = j * rows;
    for (let i = 0, src = j; i < rows; i++, src += cols) {
      const d = d0 + i;
      ov[d] = xv[src];
      ov[d + rows] = xv[src + 1];
      ov[d + 2 * rows] = xv[src + 2];
      ov[d + 3 * rows] = xv[src + 3];
      ov[d + 4 * rows] = xv[src + 4];
      ov[d + 5 * rows] = xv[src + 5];
      ov[d + 6 * rows] = xv[src + 6];
      ov[d + 7 * rows] = xv[src + 7];
    }
  }
  for (; j < cols; j++) for (let i = 0, d = j * rows, src = j; i < rows; i++, src += cols) ov[d + i] = xv[src];
}

/** Output [d0, d1, run] whose runs are contiguous in the input (e.g. [b, s, h, d] → [b, h, s, d]). */
function copyRuns3d(xv: TypedArray, ov: TypedArray, dims: number[], strides: number[]): void {
  const [d0, d1, run] = dims;
  const [s0, s1] = strides;
  let o = 0;
  for (let i = 0; i < d0; i++)
    for (let j = 0, src = i * s0; j < d1; j++, src += s1) {
      for (let k = 0; k < run; k++) ov[o + k] = xv[src + k];
      o += run;
    }
}

function transposeStrided(xv: TypedArray, ov: TypedArray, dims: number[], strides: number[]): void {
  const r = dims.length;
  const inner = dims[r - 1];
  const innerStride = strides[r - 1];
  const idx = new Array<number>(r - 1).fill(0);
  let src = 0;
  for (let o = 0; o < ov.length; o += inner) {
    for (let i = 0, s = src; i < inner; i++, s += innerStride) ov[o + i] = xv[s];
    for (let a = r - 2; a >= 0; a--) {
      src += strides[a];
      if (++idx[a] < dims[a]) break;
      src -= strides[a] * dims[a];
      idx[a] = 0;
    }
  }
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
    (backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  });

  override("Transpose", ({ inputs, backend, attrs }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === "string") throw new Error("Transpose of string tensors is not supported on wasm here");
    const perm = (attrs as unknown as { perm: number[] }).perm;
    const b = backend as unknown as WasmBackendLike;
    const out = b.makeOutput(perm.map((a) => x.shape[a]), x.dtype);
    if (tf.util.sizeFromShape(x.shape) === 0) return out;
    // 4-byte values move as Int32 bit patterns: exact for float32 (no NaN canonicalisation), and one element type
    // keeps the copy loops monomorphic, which measured 1.5x faster than mixing Float32Array and Int32Array
    const asInt32 = (v: TypedArray) => (v.BYTES_PER_ELEMENT === 4 ? new Int32Array(v.buffer, v.byteOffset, v.length) : v);
    transposeInto(asInt32(b.typedArrayFromHeap(x)), asInt32(b.typedArrayFromHeap(out)), x.shape, perm);
    return out;
  });

  const gather = tf.getKernel("GatherV2", "wasm");
  if (gather)
    override("GatherV2", (args) => {
      const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
      if ((axis !== 0 && axis !== -x.shape.length) || batchDims !== 0 || x.shape.length < 1 || x.dtype === "string" || indices.dtype !== "int32")
        return gather.kernelFunc(args) as tf.TensorInfo;
      const b = args.backend as unknown as WasmBackendLike;
      const rows = x.shape[0];
      const row = tf.util.sizeFromShape(x.shape.slice(1));
      const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
      const xv = b.typedArrayFromHeap(x);
      const iv = b.typedArrayFromHeap(indices);
      const ov = b.typedArrayFromHeap(out);
      for (let i = 0; i < iv.length; i++) {
        const r = iv[i];
        // TF.js checks indices on the cpu backend only; out of range here would read another tensor's memory
        if (r < 0 || r >= rows) throw new Error(`GatherV2: index ${r} is outside [0, ${rows})`);
        ov.set(xv.subarray(r * row, (r + 1) * row), i * row);
      }
      return out;
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
