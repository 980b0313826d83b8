import * as tf from "@tensorflow/tfjs";
import { attentionBackward, attentionForward, type AttentionShape, type RopeValues } from "../kernels/attention-module.js";
import { ropeTableValues } from "./rope.js";

// RoPE + causal grouped-query attention as one differentiable op over the projections' outputs, run by the
// WebAssembly kernel (kernels/assembly/attention.ts) on the backends whose tensors live in JS-visible memory:
// wasm (views of its heap) and cpu (its arrays). No transposes into heads, no per-(sequence, head) ops, no score
// matrices in memory. Other backends (webgpu, tensorflow) keep the composite path in attention.ts.

const FORWARD = "MaskforgeCausalAttention";
const BACKWARD = "MaskforgeCausalAttentionGrad";

export interface CausalAttentionSpec extends AttentionShape {
  ropeTheta: number;
}

type Attrs = CausalAttentionSpec & tf.NamedAttrMap;

/** Reads a float32 input and makes outputs, for one kind of backend. */
interface TensorMemory {
  read(t: tf.TensorInfo): Float32Array;
  /** allocates every output first, then hands out writable views (a wasm allocation can move the heap) */
  outputs(shapes: number[][], fill: (views: Float32Array[]) => void): tf.TensorInfo[];
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

interface CpuBackendLike {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

const memories: Record<string, (backend: unknown) => TensorMemory> = {
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

/** Whether the current backend runs the fused kernel. */
export function causalAttentionSupported(): boolean {
  return tf.getBackend() in memories;
}

function ropeValues(a: CausalAttentionSpec): RopeValues {
  const q = ropeTableValues(a.seq, a.headDim, a.ropeTheta, 1 / Math.sqrt(a.headDim)); // the score scale, folded into q
  const k = ropeTableValues(a.seq, a.headDim, a.ropeTheta);
  return { cosQ: q.cos, sinQ: q.sin, cosK: k.cos, sinK: k.sin };
}

function register(backendName: string): void {
  if (tf.getKernel(FORWARD, backendName) !== undefined) return;
  const memory = memories[backendName];
  tf.registerKernel({
    kernelName: FORWARD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as CausalAttentionSpec;
      const m = memory(backend);
      return m.outputs([q.shape, [a.batch, a.heads, a.seq]], ([o, lse]) => attentionForward(a, m.read(q), m.read(k), m.read(v), ropeValues(a), o, lse));
    },
  });
  tf.registerKernel({
    kernelName: BACKWARD,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { q, k, v, o, lse, dy } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as CausalAttentionSpec;
      const m = memory(backend);
      return m.outputs([q.shape, k.shape, v.shape], ([dq, dk, dv]) =>
        attentionBackward(a, m.read(q), m.read(k), m.read(v), m.read(o), m.read(lse), m.read(dy), ropeValues(a), dq, dk, dv),
      );
    },
  });
}

/**
 * softmax(rope(q)·rope(k)ᵀ/√headDim + causal)·v for every sequence and head: q [batch·seq, heads·headDim] and
 * k, v [batch·seq, kvHeads·headDim] as the projections give them, RoPE not yet applied; returns the o_proj input
 * [batch·seq, heads·headDim]. Differentiable in q, k and v (the backward recomputes probabilities from each row's
 * log-sum-exp). Only where causalAttentionSupported().
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, spec: CausalAttentionSpec): tf.Tensor2D {
  const backendName = tf.getBackend();
  if (!(backendName in memories)) throw new Error(`causalAttention runs on the wasm and cpu backends, not ${backendName}`);
  register(backendName);
  const attrs = { ...spec } as Attrs;
  const op = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [o, lse] = tf.engine().runKernel(FORWARD, { q: qi, k: ki, v: vi }, attrs) as tf.Tensor[];
    save([qi, ki, vi, o, lse]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sq, sk, sv, so, sl] = saved;
        return tf.engine().runKernel(BACKWARD, { q: sq, k: sk, v: sv, o: so, lse: sl, dy: Array.isArray(dy) ? dy[0] : dy }, attrs) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D;
  return op(q, k, v);
}
