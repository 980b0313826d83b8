import * as tf from "@tensorflow/tfjs";
import { fusedContext, fusedKernel, fusedKernelsSupported } from "../kernels/fused-kernel.js";
import { gemm, maskedWeightGrad } from "../kernels/matmul-module.js";
import { matMul2d } from "./matmul.js";

// x·(weight ⊙ mask)ᵀ as one op whose gradients are each computed only when the tape asks (as matMul2d's are), and
// whose mask gradient (dyᵀ·x) ⊙ weight comes from a WebAssembly kernel that reads x and dy as they are
// (kernels/assembly/matmul.ts), instead of a product with two transposed operands and a repacked right operand:
// 2-4× faster for MaskLLM's layer shapes. The forward is our GEMM on (weight ⊙ mask)ᵀ. Only where
// fusedKernelsSupported(); linear.ts falls back to TF.js ops otherwise.

const KERNEL = "MaskforgeMaskedLinear";

const weightGrad = fusedKernel<{ tokens: number; inDim: number; outDim: number }>("MaskforgeMaskedWeightGrad", (k, { x, dy, w }, a) =>
  k.outputs([w.shape], ([g]) => maskedWeightGrad(k.read(x), k.read(dy), k.read(w), a.tokens, a.inDim, a.outDim, g)),
);

/** (dyᵀ·x) ⊙ other: the gradient of one factor of weight ⊙ mask, given the other. */
function factorGrad(x: tf.Tensor2D, dy: tf.Tensor2D, other: tf.Tensor2D): tf.Tensor2D {
  return weightGrad({ x, dy, w: other }, { tokens: x.shape[0], inDim: x.shape[1], outDim: dy.shape[1] })[0] as tf.Tensor2D;
}

tf.registerGradient({
  kernelName: KERNEL,
  inputsToSave: ["x", "weight", "mask"],
  gradFunc: (dy, saved) => {
    const [x, weight, mask] = saved as tf.Tensor2D[];
    const g = dy as tf.Tensor2D;
    return {
      x: () => matMul2d(g, tf.mul(weight, mask)),
      weight: () => factorGrad(x, g, mask),
      mask: () => factorGrad(x, g, weight),
    };
  },
});

function register(backendName: string): void {
  if (tf.getKernel(KERNEL, backendName) !== undefined) return;
  const fused = fusedContext(backendName);
  if (!fused) throw new Error(`${KERNEL} runs on the wasm and cpu backends, not ${backendName}`);
  tf.registerKernel({
    kernelName: KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { x, weight, mask } = inputs as Record<string, tf.TensorInfo>;
      const ctx = fused(backend);
      const [tokens, inDim] = x.shape;
      const outDim = weight.shape[0];
      // (weight ⊙ mask)ᵀ [in, out]: one pass over the small matrix, then our GEMM (kernels/assembly/matmul.ts)
      const w = ctx.read(weight);
      const m = ctx.read(mask);
      const effT = new Float32Array(inDim * outDim);
      for (let o = 0; o < outDim; o++) for (let i = 0, r = o * inDim; i < inDim; i++) effT[i * outDim + o] = w[r + i] * m[r + i];
      return ctx.outputs([[tokens, outDim]], ([y]) => gemm(ctx.read(x), effT, tokens, inDim, outDim, y))[0];
    },
  });
}

/** Whether maskedLinear runs here for a weight [out, in]. */
export function maskedLinearSupported(weight: tf.Tensor2D, x: tf.Tensor2D): boolean {
  return fusedKernelsSupported() && x.dtype === "float32" && weight.dtype === "float32";
}

/** x [tokens, in] · (weight ⊙ mask)ᵀ with weight, mask [out, in] → [tokens, out]. */
export function maskedLinear(x: tf.Tensor2D, weight: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  register(tf.getBackend());
  return tf.engine().runKernel(KERNEL, { x, weight, mask } as unknown as tf.NamedTensorMap) as tf.Tensor2D;
}
