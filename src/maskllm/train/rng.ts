// Counter-based randomness: every draw is a pure function of (seed, step, stream), so a run carries no RNG state
// and a resumed run reproduces an uninterrupted one exactly. mulberry32 is small, fast and good enough for noise
// and shuffles; 32-bit mixing (splitmix32-style) turns the counters into independent stream seeds.
import { gumbelNoiseInto } from "../kernels/gumbel-module.js";

/** Describes the generators for snapshots and artifacts (there is no hidden state to save). */
export const RNG_DESCRIPTION = {
  algorithm: "mulberry32",
  init: "mulberry32(seedFor(seed, -1, weightIndex)) Box-Muller normals",
  gumbel: "mulberry32(seedFor(seed, step, weightIndex)) 23-bit uniforms u = ((bits >>> 9) + 0.5) / 2^23, g = -log(-log u) in float32 (kernels/assembly/gumbel.ts)",
  data: "Fisher-Yates shuffle of the windows with mulberry32(seedFor(seed, epoch, -2))",
} as const;

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** A 32-bit stream seed derived from (seed, step, stream); different tuples give unrelated streams. */
export function seedFor(seed: number, step: number, stream: number): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ ((step | 0) >>> 0) ^ 0x85ebca6b);
  h = mix32(h ^ ((stream | 0) >>> 0) ^ 0xc2b2ae35);
  return h;
}

/** mulberry32's raw stream of uint32s; the one generator behind every seeded draw in the project. */
export function mulberry32Bits(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** mulberry32: returns uniforms in the open interval (0, 1), so -log(-log u) is always finite. */
export function mulberry32(seed: number): () => number {
  const bits = mulberry32Bits(seed);
  return () => (bits() + 0.5) / 4294967296;
}

/** n standard Gumbel(0,1) samples, -log(-log u), from one stream (the WebAssembly kernel; `scale` multiplied in). */
export function gumbelNoise(n: number, streamSeed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  gumbelNoiseInto(out, streamSeed, scale);
  return out;
}

/** n normal samples N(0, std²) (Box-Muller) from one stream. */
export function normalNoise(n: number, std: number, streamSeed: number): Float32Array {
  const next = mulberry32(streamSeed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next()));
    const th = 2 * Math.PI * next();
    out[i] = std * r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = std * r * Math.sin(th);
  }
  return out;
}

/** A permutation of 0..n-1 (Fisher-Yates) from one stream. */
export function permutation(n: number, streamSeed: number): Int32Array {
  const next = mulberry32(streamSeed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
