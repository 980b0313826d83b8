// The LLaMA block's elementwise layers (layers.h) on AVX-512 or AVX2 vectors over the caller's arrays: the wasm
// kernels copy every operand into their memory and back, which made SwiGLU and RMSNorm a tenth of a step at the
// 110M shape. The wasm kernels' math op for op (layers-simd.inc), so the same bits (test/native/layers.test.ts).
//
// No FMA contraction: GCC fuses a·b + c under an FMA target by default, which would round differently from wasm.
#pragma GCC optimize("fp-contract=off")

#include "layers.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "gemm.h"

namespace maskforge {
namespace {

#define MF_SIMD_BODY "layers-simd.inc"
#include "simd-isas.inc"

bool wide() { return currentIsa() == Isa::avx512; }

}  // namespace

void rmsNormForward(const float* x, const float* w, float* y, float* r, long rows, int n, float eps) {
  wide() ? avx512::rmsNormForward(x, w, y, r, rows, n, eps) : avx2::rmsNormForward(x, w, y, r, rows, n, eps);
}

void rmsNormBackward(const float* x, const float* w, const float* r, const float* dy, float* dx, long rows, int n, bool accumulate) {
  wide() ? avx512::rmsNormBackward(x, w, r, dy, dx, rows, n, accumulate) : avx2::rmsNormBackward(x, w, r, dy, dx, rows, n, accumulate);
}

void swigluForward(const float* g, const float* u, float* h, float* s, long n) {
  wide() ? avx512::swigluForward(g, u, h, s, n) : avx2::swigluForward(g, u, h, s, n);
}

void swigluBackward(const float* g, const float* u, const float* s, const float* dh, float* dg, float* du, long n) {
  wide() ? avx512::swigluBackward(g, u, s, dh, dg, du, n) : avx2::swigluBackward(g, u, s, dh, dg, du, n);
}

}  // namespace maskforge
