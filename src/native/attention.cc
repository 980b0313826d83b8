// The host trainer's causal attention in native code (the optional addon; addon.cc is its N-API face): the wasm kernel
// of src/maskllm/kernels/assembly/attention.ts (same layouts, RoPE, GQA and causal mask) rewritten as blocked small
// matrix products in the style of flash attention. That kernel streams every visible key's packed K, dK and dV
// through L2 once per query row; here a block of query rows meets the keys in register tiles (S = QKᵀ, dP = dO·Vᵀ,
// O = P·V, dQ = dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO), each tile stopping at its last visible key.
//
// The body (attention-kernels.inc) is compiled twice, for AVX-512 and for AVX2+FMA, each inside a target region as
// gemm.cc's tiles carry target attributes; gemm.cc's currentIsa() (process-wide, so every thread sums alike) picks.
// Each window is computed on its own with blocks that depend only on seq and hd, so a result does not depend on
// which windows a call covers.
#include "attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "gemm.h"
#include "scratch.h"

namespace maskforge {
namespace {

thread_local Scratch scratch;

// Cephes' expf as simd-math.ts has it (n = round(x·log2 e) by adding 1.5·2^23, 2^n by an integer add and shift),
// inputs clamped to [−87.3, 88.4]
#define MF_EXP(f, set1, min, max, fma, fnma, mul, add, sub, cvt, addi, slli, seti, cast)                     \
  x = min(max(x, set1(-87.33654f)), set1(88.3762626647949f));                                                \
  const f t = fma(x, set1(1.44269504088896341f), set1(12582912.0f));                                        \
  const f fx = sub(t, set1(12582912.0f));                                                                    \
  x = fnma(fx, set1(0.693359375f), x);                                                                       \
  x = fnma(fx, set1(-2.12194440e-4f), x);                                                                    \
  const f z = mul(x, x);                                                                                     \
  f y = fma(set1(1.9875691500e-4f), x, set1(1.3981999507e-3f));                                              \
  y = fma(y, x, set1(8.3334519073e-3f));                                                                     \
  y = fma(y, x, set1(4.1665795894e-2f));                                                                     \
  y = fma(y, x, set1(1.6666665459e-1f));                                                                     \
  y = fma(y, x, set1(5.0000001201e-1f));                                                                     \
  y = add(fma(y, z, x), set1(1.0f));                                                                         \
  return mul(y, cast(slli(addi(cvt(t), seti(127)), 23)));

#pragma GCC push_options
#pragma GCC target("avx512f")
namespace avx512 {
struct V {
  using f = __m512;
  static constexpr int W = 16, MR = 8;  // 8 rows × 32 keys: 16 accumulators
  static f zero() { return _mm512_setzero_ps(); }
  static f set1(float x) { return _mm512_set1_ps(x); }
  static f load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, f x) { _mm512_storeu_ps(p, x); }
  static f add(f a, f b) { return _mm512_add_ps(a, b); }
  static f sub(f a, f b) { return _mm512_sub_ps(a, b); }
  static f mul(f a, f b) { return _mm512_mul_ps(a, b); }
  static f max(f a, f b) { return _mm512_max_ps(a, b); }
  static f fma(f a, f b, f c) { return _mm512_fmadd_ps(a, b, c); }
  /** the first n lanes (0 < n < W) */
  static __mmask16 lanes(int n) { return __mmask16((1u << n) - 1); }
  static f select(__mmask16 m, f a, f b) { return _mm512_mask_blend_ps(m, b, a); }
  static float hmax(f x) { return _mm512_reduce_max_ps(x); }
  static float hsum(f x) { return _mm512_reduce_add_ps(x); }
  static f exp(f x) { MF_EXP(f, _mm512_set1_ps, _mm512_min_ps, _mm512_max_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_sub_ps, _mm512_castps_si512, _mm512_add_epi32, _mm512_slli_epi32, _mm512_set1_epi32, _mm512_castsi512_ps) }
};
#include "attention-kernels.inc"
}  // namespace avx512
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
struct V {
  using f = __m256;
  static constexpr int W = 8, MR = 4;  // 4 rows × 16 keys: 8 of the 16 registers
  static f zero() { return _mm256_setzero_ps(); }
  static f set1(float x) { return _mm256_set1_ps(x); }
  static f load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, f x) { _mm256_storeu_ps(p, x); }
  static f add(f a, f b) { return _mm256_add_ps(a, b); }
  static f sub(f a, f b) { return _mm256_sub_ps(a, b); }
  static f mul(f a, f b) { return _mm256_mul_ps(a, b); }
  static f max(f a, f b) { return _mm256_max_ps(a, b); }
  static f fma(f a, f b, f c) { return _mm256_fmadd_ps(a, b, c); }
  static f lanes(int n) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))); }
  static f select(f m, f a, f b) { return _mm256_blendv_ps(b, a, m); }
  static float hmax(f x) {
    __m128 v = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    v = _mm_max_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_max_ss(v, _mm_shuffle_ps(v, v, 1)));
  }
  static float hsum(f x) {
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
  }
  static f exp(f x) { MF_EXP(f, _mm256_set1_ps, _mm256_min_ps, _mm256_max_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_castps_si256, _mm256_add_epi32, _mm256_slli_epi32, _mm256_set1_epi32, _mm256_castsi256_ps) }
};
#include "attention-kernels.inc"
}  // namespace avx2
#pragma GCC pop_options
#undef MF_EXP

}  // namespace

bool attentionForward(const AttentionDims& s, const float* q, const float* k, const float* v, const AttentionRope& rope, float* o, float* lse) {
  return currentIsa() == Isa::avx512 ? avx512::forward(s, q, k, v, rope, o, lse) : avx2::forward(s, q, k, v, rope, o, lse);
}

bool attentionBackward(const AttentionDims& s, const float* q, const float* k, const float* v, const float* o, const float* lse, const float* dO, const AttentionRope& rope, float* dq, float* dk,
                       float* dv) {
  return currentIsa() == Isa::avx512 ? avx512::backward(s, q, k, v, o, lse, dO, rope, dq, dk, dv) : avx2::backward(s, q, k, v, o, lse, dO, rope, dq, dk, dv);
}

}  // namespace maskforge
