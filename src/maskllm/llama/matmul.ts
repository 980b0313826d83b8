import * as tf from "@tensorflow/tfjs";

// A 2-D product a·b as its own kernel, for two reasons.
// - TF.js's WASM backend sends BatchMatMul to XNNPACK only for a single, untransposed 2-D product; a transpose flag
//   or a batch dimension falls back to a naive loop that measured 10-40× slower here. matMul's built-in gradient
//   uses transpose flags; this gradient keeps every product on the fast path, with explicit transposes.
// - Each input's gradient is computed only when the tape asks for it (tf.customGrad computes all of them): the
//   frozen weights' side of every projection, and the first layer's inputs, cost nothing.
// XNNPACK packs a product's right operand before multiplying (it is built for constant weights), about 2.7 ns per
// value here, while a transpose costs about 0.6 ns per value (wasm-shims.ts). Of the two ways to form each gradient
// (transpose an input, or transpose dy and the result) the cost model below takes the cheaper: for gate_proj,
// x [tokens, 64] and dy [tokens, 172], the weight's gradient (dyᵀ·x)ᵀ packs x instead of dy.
const KERNEL = "MaskforgeMatMul2d";

function registerFor(backendName: string): void {
  if (tf.getKernel(KERNEL, backendName) !== undefined) return;
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
