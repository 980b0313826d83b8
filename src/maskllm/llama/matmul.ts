import * as tf from "@tensorflow/tfjs";
import { fusedContext } from "../kernels/fused-kernel.js";
import { gemm } from "../kernels/matmul-module.js";

// A 2-D product a·b as its own kernel, for two reasons.
// - Where fused kernels run (wasm, cpu) it is our WebAssembly GEMM (kernels/assembly/matmul.ts), about 1.3× TF.js's
//   XNNPACK path here, which repacks the right operand on every call (it is built for constant weights). Elsewhere
//   it is the backend's BatchMatMul; TF.js's WASM backend sends that to XNNPACK only for a single, untransposed 2-D
//   product (a transpose flag or a batch dimension falls back to a naive loop 10-40× slower), so this kernel's
//   gradient keeps every product untransposed, with explicit transposes.
// - Each input's gradient is computed only when the tape asks for it (tf.customGrad computes all of them): the
//   frozen weights' side of every projection, and the first layer's inputs, cost nothing.
// Of the two ways to form each gradient (transpose an input, or transpose dy and the result) the cost model below
// takes the cheaper, counting XNNPACK's packing of the right operand (~2.7 ns a value) and a transpose (~0.6 ns).
const KERNEL = "MaskforgeMatMul2d";

function registerFor(backendName: string): void {
  if (tf.getKernel(KERNEL, backendName) !== undefined) return;
  const fused = fusedContext(backendName);
  if (fused) {
    tf.registerKernel({
      kernelName: KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const { a, b } = inputs as Record<string, tf.TensorInfo>;
        const [m, k] = a.shape;
        const n = b.shape[1];
        const ctx = fused(backend);
        return ctx.outputs([[m, n]], ([c]) => gemm(ctx.read(a), ctx.read(b), m, k, n, c))[0];
      },
    });
    return;
  }
  const batchMatMul = tf.getKernel(tf.BatchMatMul, backendName);
  if (!batchMatMul) throw new Error(`backend ${backendName} has no BatchMatMul kernel`);
  tf.registerKernel({
    kernelName: KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend }) => batchMatMul.kernelFunc({ inputs, backend, attrs: { transposeA: false, transposeB: false } }),
  });
}

const PACK = 2.7;
const TRANSPOSE = 0.6;

tf.registerGradient({
  kernelName: KERNEL,
  inputsToSave: ["a", "b"],
  gradFunc: (dy, saved) => {
    const [a, b] = saved as tf.Tensor2D[];
    const g = dy as tf.Tensor2D;
    return {
      // dA = dy·bᵀ (packs bᵀ)  or  (b·dyᵀ)ᵀ (packs dyᵀ)
      a: () =>
        (TRANSPOSE + PACK) * b.size <= (TRANSPOSE + PACK) * g.size + TRANSPOSE * a.size
          ? matMul2d(g, tf.transpose(b))
          : tf.transpose(matMul2d(b, tf.transpose(g))),
      // dB = aᵀ·dy (packs dy)  or  (dyᵀ·a)ᵀ (packs a)
      b: () =>
        TRANSPOSE * a.size + PACK * g.size <= TRANSPOSE * (g.size + b.size) + PACK * a.size
          ? matMul2d(tf.transpose(a), g)
          : tf.transpose(matMul2d(tf.transpose(g), a)),
    };
  },
});

/** a [m, k] · b [k, n] → [m, n], differentiable in both. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) throw new Error(`matMul2d: shapes [${a.shape}] and [${b.shape}] do not multiply`);
  registerFor(tf.getBackend());
  return tf.engine().runKernel(KERNEL, { a, b } as unknown as tf.NamedTensorMap) as tf.Tensor2D;
}
