// The LLaMA block's elementwise layers in native code (layers.cc), as addon.cc calls them: RMSNorm and SwiGLU, forward
// and backward, over the caller's arrays, bit-identical to the wasm kernels (src/maskllm/kernels/assembly/layers.ts).
#pragma once

namespace maskforge {

/** y [rows, n] = x·r·w per row with r = 1/√(mean(x²) + eps), kept in r [rows]. */
void rmsNormForward(const float* x, const float* w, float* y, float* r, long rows, int n, float eps);

/** dx [rows, n] (accumulate: +=) of rmsNormForward given dy, from its r (the norm's weight is frozen: no dw). */
void rmsNormBackward(const float* x, const float* w, const float* r, const float* dy, float* dx, long rows, int n, bool accumulate);

/** h = silu(g)⊙u and s = σ(g) over n values. */
void swigluForward(const float* g, const float* u, float* h, float* s, long n);

/** du = dh·g·s, dg = dh·u·s·(1 + g·(1 − s)) from swigluForward's s. */
void swigluBackward(const float* g, const float* u, const float* s, const float* dh, float* dg, float* du, long n);

}  // namespace maskforge
