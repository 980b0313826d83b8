import * as tf from "@tensorflow/tfjs";
import { fusedKernel, fusedKernelsSupported } from "../kernels/fused-kernel.js";
import { maskedWeightGrad } from "../kernels/linear-grad-module.js";
import { matMul2d } from "./matmul.js";

// x·(weight ⊙ mask)ᵀ as one op whose gradients are each computed only when the tape asks (as matMul2d's are), and
// whose mask gradient (dyᵀ·x) ⊙ weight comes from a WebAssembly kernel that reads x and dy as they are
// (kernels/assembly/linear-grad.ts), instead of a product with two transposed operands and a repacked right operand:
// 2-4× faster for MaskLLM's layer shapes. The forward runs the backend's own Multiply, Transpose and BatchMatMul
// kernels (XNNPACK's fast untransposed case on wasm). Only where fusedKernelsSupported(), for input widths that are
// a multiple of 4; linear.ts falls back to TF.js ops otherwise.

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

interface Backend {
  disposeData(dataId: object): void;
}

function register(backendName: string): void {
  if (tf.getKernel(KERNEL, backendName) !== undefined) return;
  const [mul, transpose, matmul] = [tf.Multiply, tf.Transpose, tf.BatchMatMul].map((n) => {
    const k = tf.getKernel(n, backendName);
    if (!k) throw new Error(`backend ${backendName} has no ${n} kernel`);
    return k.kernelFunc;
  });
  tf.registerKernel({
    kernelName: KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const { x, weight, mask } = inputs as Record<string, tf.TensorInfo>;
      const effective = mul({ inputs: { a: weight, b: mask }, backend, attrs: {} }) as tf.TensorInfo;
      const t = transpose({ inputs: { x: effective }, backend, attrs: { perm: [1, 0] } }) as tf.TensorInfo;
      const y = matmul({ inputs: { a: x, b: t }, backend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
      (backend as unknown as Backend).disposeData(effective.dataId);
      (backend as unknown as Backend).disposeData(t.dataId);
      return y;
    },
  });
}

/** Whether maskedLinear runs here for a weight [out, in]. */
export function maskedLinearSupported(weight: tf.Tensor2D, x: tf.Tensor2D): boolean {
  return fusedKernelsSupported() && weight.shape[1] % 4 === 0 && x.dtype === "float32" && weight.dtype === "float32";
}

/** x [tokens, in] · (weight ⊙ mask)ᵀ with weight, mask [out, in] → [tokens, out]. */
export function maskedLinear(x: tf.Tensor2D, weight: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  register(tf.getBackend());
  return tf.engine().runKernel(KERNEL, { x, weight, mask } as unknown as tf.NamedTensorMap) as tf.Tensor2D;
}
