// The causal attention kernel (assembly/attention.ts) as plain functions over Float32Arrays. Inputs are copied into
// the kernel's memory and outputs out (callKernel): a few MB a layer, against the score-matrix traffic it saves.
import { ATTENTION_WASM_BASE64 } from "./attention-binary.js";
import { callKernel, lazyKernels, type KernelInstance } from "./wasm-kernel.js";

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

const kernels = lazyKernels<Exports>(ATTENTION_WASM_BASE64);

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

/** Checks the shape and each array's length against it (values per q/o, k/v, RoPE table and lse). */
function expectSizes(s: AttentionShape, arrays: [name: string, a: Float32Array, of: "q" | "kv" | "lse"][], rope: RopeValues): void {
  check(s);
  const rows = s.batch * s.seq;
  const n = { q: rows * s.heads * s.headDim, kv: rows * s.kvHeads * s.headDim, lse: s.batch * s.heads * s.seq };
  const all: [string, Float32Array, number][] = [...arrays.map(([name, a, of]) => [name, a, n[of]] as [string, Float32Array, number]), ...Object.entries(rope).map(([name, a]) => [name, a, s.seq * s.headDim] as [string, Float32Array, number])];
  for (const [name, a, len] of all) if (a.length !== len) throw new AttentionShapeError(`attention: ${name} has ${a.length} values, expected ${len}`);
}

/**
 * o [batch·seq, heads·headDim] = causal softmax(rope(q)·rope(k)ᵀ/√headDim)·v, and lse [batch, heads, seq] (each
 * row's log Σ exp(score), what the backward needs). q [batch·seq, heads·headDim]; k, v [batch·seq, kvHeads·headDim].
 */
export function attentionForward(s: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, rope: RopeValues, o: Float32Array, lse: Float32Array): void {
  expectSizes(s, [["q", q, "q"], ["k", k, "kv"], ["v", v, "kv"], ["o", o, "q"], ["lse", lse, "lse"]], rope);
  const x = kernels();
  callKernel(x, [q, k, v, rope.cosQ, rope.sinQ, rope.cosK, rope.sinK], [o, lse], x.forwardScratchBytes(s.seq, s.headDim), (p) =>
    x.forward(...p, s.batch, s.seq, s.heads, s.kvHeads, s.headDim),
  );
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
  const arrays: [string, Float32Array, "q" | "kv" | "lse"][] = [["q", q, "q"], ["k", k, "kv"], ["v", v, "kv"], ["o", o, "q"], ["lse", lse, "lse"], ["dO", dO, "q"], ["dq", dq, "q"], ["dk", dk, "kv"], ["dv", dv, "kv"]];
  expectSizes(s, arrays, rope);
  const x = kernels();
  callKernel(x, [q, k, v, o, lse, dO, rope.cosQ, rope.sinQ, rope.cosK, rope.sinK], [dq, dk, dv], x.backwardScratchBytes(s.seq, s.headDim), (p) =>
    x.backward(...p, s.batch, s.seq, s.heads, s.kvHeads, s.headDim),
  );
}
