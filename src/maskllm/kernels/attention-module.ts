// The causal attention kernel (assembly/attention.ts) as plain functions over Float32Arrays. Inputs are copied into
// the kernel's memory and outputs out: a few MB a layer, against the score-matrix traffic it saves.
import { ATTENTION_WASM_BASE64 } from "./attention-binary.js";
import { instantiate, layout, put, take, type KernelInstance } from "./wasm-kernel.js";

export interface AttentionShape {
  batch: number;
  seq: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** RoPE tables [seq, headDim]; the queries' carry the 1/√headDim score scale. */
export interface RopeValues {
  cosQ: Float32Array;
  sinQ: Float32Array;
  cosK: Float32Array;
  sinK: Float32Array;
}

interface Exports extends KernelInstance {
  forwardScratchBytes(seq: number, hd: number): number;
  backwardScratchBytes(seq: number, hd: number): number;
  forward(...args: number[]): void;
  backward(...args: number[]): void;
}

let instance: Exports | undefined;
const kernels = () => (instance ??= instantiate<Exports>(ATTENTION_WASM_BASE64));

export class AttentionShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AttentionShapeError";
  }
}

function check(s: AttentionShape): void {
  const { batch, seq, heads, kvHeads, headDim } = s;
  if (![batch, seq, heads, kvHeads, headDim].every((n) => Number.isInteger(n) && n > 0)) throw new AttentionShapeError(`attention: bad shape ${JSON.stringify(s)}`);
  if (heads % kvHeads !== 0) throw new AttentionShapeError(`attention: ${heads} heads are not a multiple of ${kvHeads} kv heads`);
  if (headDim % 2 !== 0) throw new AttentionShapeError(`attention: RoPE needs an even head dimension, got ${headDim}`);
}

function expectLength(name: string, a: Float32Array, n: number): void {
  if (a.length !== n) throw new AttentionShapeError(`attention: ${name} has ${a.length} values, expected ${n}`);
}

/**
 * o [batch·seq, heads·headDim] = causal softmax(rope(q)·rope(k)ᵀ/√headDim)·v, and lse [batch, heads, seq] (each
 * row's log Σ exp(score), what the backward needs). q [batch·seq, heads·headDim]; k, v [batch·seq, kvHeads·headDim].
 */
export function attentionForward(s: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, rope: RopeValues, o: Float32Array, lse: Float32Array): void {
  check(s);
  const rows = s.batch * s.seq;
  const qn = rows * s.heads * s.headDim;
  const kn = rows * s.kvHeads * s.headDim;
  const tn = s.seq * s.headDim;
  for (const [n, a, len] of [["q", q, qn], ["k", k, kn], ["v", v, kn], ["o", o, qn], ["lse", lse, s.batch * s.heads * s.seq]] as const) expectLength(n, a, len);
  for (const [n, a] of Object.entries(rope)) expectLength(n, a, tn);
  const x = kernels();
  const [pq, pk, pv, pcq, psq, pck, psk, po, plse, scratch] = layout(x, [qn, kn, kn, tn, tn, tn, tn, qn, lse.length].map((n) => n * 4).concat(x.forwardScratchBytes(s.seq, s.headDim)));
  put(x, pq, q);
  put(x, pk, k);
  put(x, pv, v);
  put(x, pcq, rope.cosQ);
  put(x, psq, rope.sinQ);
  put(x, pck, rope.cosK);
  put(x, psk, rope.sinK);
  x.forward(pq, pk, pv, pcq, psq, pck, psk, po, plse, scratch, s.batch, s.seq, s.heads, s.kvHeads, s.headDim);
  take(x, po, o);
  take(x, plse, lse);
}

/** dq, dk, dv (same layouts as q, k, v) of attentionForward given its o, lse and dO. */
export function attentionBackward(
  s: AttentionShape,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  o: Float32Array,
  lse: Float32Array,
  dO: Float32Array,
  rope: RopeValues,
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
): void {
  check(s);
  const rows = s.batch * s.seq;
  const qn = rows * s.heads * s.headDim;
  const kn = rows * s.kvHeads * s.headDim;
  const tn = s.seq * s.headDim;
  const ln = s.batch * s.heads * s.seq;
  for (const [n, a, len] of [["q", q, qn], ["k", k, kn], ["v", v, kn], ["o", o, qn], ["lse", lse, ln], ["dO", dO, qn], ["dq", dq, qn], ["dk", dk, kn], ["dv", dv, kn]] as const) expectLength(n, a, len);
  for (const [n, a] of Object.entries(rope)) expectLength(n, a, tn);
  const x = kernels();
  const sizes = [qn, kn, kn, qn, ln, qn, tn, tn, tn, tn, qn, kn, kn].map((n) => n * 4).concat(x.backwardScratchBytes(s.seq, s.headDim));
  const [pq, pk, pv, po, plse, pdo, pcq, psq, pck, psk, pdq, pdk, pdv, scratch] = layout(x, sizes);
  put(x, pq, q);
  put(x, pk, k);
  put(x, pv, v);
  put(x, po, o);
  put(x, plse, lse);
  put(x, pdo, dO);
  put(x, pcq, rope.cosQ);
  put(x, psq, rope.sinQ);
  put(x, pck, rope.cosK);
  put(x, psk, rope.sinK);
  x.backward(pq, pk, pv, po, plse, pdo, pcq, psq, pck, psk, pdq, pdk, pdv, scratch, s.batch, s.seq, s.heads, s.kvHeads, s.headDim);
  take(x, pdq, dq);
  take(x, pdk, dk);
  take(x, pdv, dv);
}
