import * as tf from "@tensorflow/tfjs";

// softmax(q·kᵀ + mask)·v for one (sequence, kv head) as one differentiable op, with the backward of flash
// attention: with O the output and r = rowsum(dO ⊙ O) (= rowsum(dP ⊙ P), since O = P·V), dS = P ⊙ (dP − r) needs no
// reduction over the score matrix, and dKᵀ comes from the transposed scores dSᵀ = Pᵀ ⊙ (V·dOᵀ − rᵀ), built from
// the Pᵀ that dV = Pᵀ·dO needs anyway. Against autograd through matMul and softmax this saves one of the two
// [queries, keys] transposes and the row sum of P ⊙ dP per pair. Every product keeps a small right operand,
// XNNPACK's fast case on wasm (matmul.ts).
const cache = new WeakMap<tf.Tensor2D, (q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D>();

function build(mask: tf.Tensor2D) {
  return tf.customGrad(((q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const p = tf.softmax(tf.add(tf.matMul(q, kT), mask)) as tf.Tensor2D; // [queries, keys]
    const o = tf.matMul(p, v); // [queries, headDim]
    save([q, kT, v, p, o]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dO = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
        const [sq, skT, sv, sp, so] = saved as tf.Tensor2D[];
        const r = tf.sum(tf.mul(dO, so), -1, true); // [queries, 1]
        const dS = tf.mul(sp, tf.sub(tf.matMul(dO, tf.transpose(sv)), r)); // [queries, keys]
        const pT = tf.transpose(sp); // [keys, queries]
        const dST = tf.mul(pT, tf.sub(tf.matMul(sv, tf.transpose(dO)), tf.reshape(r, [1, -1])));
        const dQ = tf.matMul(dS, tf.transpose(skT));
        const dKT = tf.transpose(tf.matMul(dST, sq));
        const dV = tf.matMul(pT, dO);
        return [dQ, dKT, dV];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D;
}

/** softmax(q·kT + mask)·v: q [queries, headDim], kT [headDim, keys], v [keys, headDim], mask [queries, keys] (constant). */
export function attend(q: tf.Tensor2D, kT: tf.Tensor2D, v: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  let f = cache.get(mask);
  if (!f) cache.set(mask, (f = build(mask)));
  return f(q, kT, v);
}
