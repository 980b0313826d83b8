// RMSNorm and SwiGLU kernels (assembly/layers.ts) as plain functions over Float32Arrays (copied in and out). The
// 16 bytes callKernel leaves after each buffer give the kernels' last partial vector room.
import { LAYERS_WASM_BASE64 } from "./layers-binary.js";
import { callKernel, lazyKernels, type KernelInstance } from "./wasm-kernel.js";

interface Exports extends KernelInstance {
  rmsNormForward(x: number, w: number, y: number, r: number, rows: number, n: number, eps: number): void;
  rmsNormBackward(x: number, w: number, r: number, dy: number, dx: number, dw: number, rows: number, n: number): void;
  swigluForward(g: number, u: number, h: number, s: number, n: number): void;
  swigluBackward(g: number, u: number, s: number, dh: number, dg: number, du: number, n: number): void;
}

const kernels = lazyKernels<Exports>(LAYERS_WASM_BASE64);

export class LayerShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LayerShapeError";
  }
}

function expect(name: string, a: Float32Array, n: number): void {
  if (a.length !== n) throw new LayerShapeError(`${name} has ${a.length} values, expected ${n}`);
}

/** y = x·r·w per row of x [rows, n], r = 1/√(mean(x²) + eps) (also returned, for the backward). */
export function rmsNormForward(x: Float32Array, w: Float32Array, rows: number, n: number, eps: number, y: Float32Array, r: Float32Array): void {
  expect("rmsNorm x", x, rows * n);
  expect("rmsNorm weight", w, n);
  expect("rmsNorm y", y, rows * n);
  expect("rmsNorm r", r, rows);
  const k = kernels();
  callKernel(k, [x, w], [y, r], 0, ([px, pw, py, pr]) => k.rmsNormForward(px, pw, py, pr, rows, n, eps));
}

/** dx [rows, n] and dw [n] of rmsNormForward given dy. */
export function rmsNormBackward(x: Float32Array, w: Float32Array, r: Float32Array, dy: Float32Array, rows: number, n: number, dx: Float32Array, dw: Float32Array): void {
  for (const [name, a, len] of [["x", x, rows * n], ["weight", w, n], ["r", r, rows], ["dy", dy, rows * n], ["dx", dx, rows * n], ["dw", dw, n]] as const) expect(`rmsNorm ${name}`, a, len);
  const k = kernels();
  callKernel(k, [x, w, r, dy], [dx, dw], 0, ([px, pw, pr, pdy, pdx, pdw]) => k.rmsNormBackward(px, pw, pr, pdy, pdx, pdw, rows, n));
}

/** h = silu(g)⊙u, elementwise; s = σ(g), for the backward. */
export function swigluForward(g: Float32Array, u: Float32Array, h: Float32Array, s: Float32Array): void {
  for (const [name, a] of [["up", u], ["out", h], ["sigmoid", s]] as const) expect(`swiglu ${name}`, a, g.length);
  const k = kernels();
  callKernel(k, [g, u], [h, s], 0, ([pg, pu, ph, ps]) => k.swigluForward(pg, pu, ph, ps, g.length));
}

/** dg, du of swigluForward given its s and dh. */
export function swigluBackward(g: Float32Array, u: Float32Array, s: Float32Array, dh: Float32Array, dg: Float32Array, du: Float32Array): void {
  for (const [name, a] of [["up", u], ["sigmoid", s], ["dh", dh], ["dgate", dg], ["dup", du]] as const) expect(`swiglu ${name}`, a, g.length);
  const k = kernels();
  callKernel(k, [g, u, s, dh], [dg, du], 0, ([pg, pu, ps, pdh, pdg, pdu]) => k.swigluBackward(pg, pu, ps, pdh, pdg, pdu, g.length));
}
