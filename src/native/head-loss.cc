// The lm_head, the next-token cross-entropy and their backward in native code, for the host trainer's headLoss op
// (src/maskllm/host/ops.ts): the wasm kernels' math (assembly/loss.ts) on the GEMM of gemm.cc, with the logits of
// a block of rows alive at a time (headLossRows: a window at vocab 32000, fewer rows at larger vocabularies), in place:
// no copy into a kernel's memory, and the lm_head packed once for the run, shared by the threads.
#include "head-loss.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "gemm.h"
#include "scratch.h"

namespace maskforge {
namespace {

// Cephes' expf: exp(x) = 2ⁿ·p(r), n = round(x·log₂e), r = x − n·ln2 in two parts; |rel. error| < 2e-7. Inputs are
// x − max ≤ 0 here; below −87.3 the result flushes to 0 (the wasm kernel gives ~1e-38: both vanish beside Σ ≥ 1).
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2ⁿ through the exponent bits (n ≥ −126 after the clamp)
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// One row of v logits → its lse; then, in place, scale·(softmax − onehot(t)) (zero when scale is 0). Vectors of
// 16 (8) lanes, the row's tail masked.
__attribute__((target("avx512f"))) float rowLoss512(float* x, int v, int t, float scale) {
  __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int j = 0;
  for (; j + 16 <= v; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + j));
  const __mmask16 tail = __mmask16((1u << (v - j)) - 1);
  if (tail) mx = _mm512_mask_max_ps(mx, tail, mx, _mm512_maskz_loadu_ps(tail, x + j));
  const float m = _mm512_reduce_max_ps(mx);
  const __m512 mv = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (j = 0; j + 16 <= v; j += 16) sum = _mm512_add_ps(sum, exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), mv)));
  if (tail) sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(tail, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + j), mv))));
  const float lse = m + std::log(_mm512_reduce_add_ps(sum));
  const float xt = x[t];
  const __m512 lv = _mm512_set1_ps(lse), sv = _mm512_set1_ps(scale);
  for (j = 0; j + 16 <= v; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), lv)), sv));
  if (tail) _mm512_mask_storeu_ps(x + j, tail, _mm512_mul_ps(exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + j), lv)), sv));
  x[t] -= scale;
  return lse - xt;
}

__attribute__((target("avx2,fma"))) float rowLoss256(float* x, int v, int t, float scale) {
  __m256 mx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int j = 0;
  for (; j + 8 <= v; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + j));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  float m = lanes[0];
  for (int l = 1; l < 8; l++) m = std::max(m, lanes[l]);
  for (int q = j; q < v; q++) m = std::max(m, x[q]);
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (int q = 0; q + 8 <= v; q += 8) sum = _mm256_add_ps(sum, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + q), mv)));
  _mm256_store_ps(lanes, sum);
  float s = 0;
  for (int l = 0; l < 8; l++) s += lanes[l];
  for (int q = j; q < v; q++) s += std::exp(x[q] - m);
  const float lse = m + std::log(s);
  const float xt = x[t];
  const __m256 lv = _mm256_set1_ps(lse), sv = _mm256_set1_ps(scale);
  for (int q = 0; q + 8 <= v; q += 8) _mm256_storeu_ps(x + q, _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(x + q), lv)), sv));
  for (int q = j; q < v; q++) x[q] = std::exp(x[q] - lse) * scale;
  x[t] -= scale;
  return lse - xt;
}

// a thread's block of logits (scratch.h)
thread_local Scratch logitsBlock;

}  // namespace

int headLossRows(int v, int seq) {
  // up to 64 MiB of logits a thread (a whole window of 256 rows at vocab 32000: 33 MB), in whole register tiles:
  // the lm_head is streamed from memory once per block, forward and backward, so blocks must be long (measured at
  // vocab 32000, d 512/768: 138/141 GFLOP/s at 120 rows, 166/174 at 256)
  const int mr = currentIsa() == Isa::avx512 ? 12 : 6;
  const int rows = std::max(mr, int((size_t(16) << 20) / size_t(std::max(v, 1))) / mr * mr);
  return std::min(rows, std::max(seq, 1));
}

bool headLoss(const float* x, const float* w, const float* packedWt, const int* targets, const float* rowWeights, const float* rowScale, int windows, int seq, int d, int v, float* dx, double* totals) {
  const int block = headLossRows(v, seq);
  float* logits = logitsBlock.get(size_t(block) * v);
  if (!logits) return false;
  const bool wide = currentIsa() == Isa::avx512;
  const BSource rowsOfW{w, false, nullptr, nullptr, nullptr, 0, 0, v, d};
  for (int i = 0; i < windows; i++) {
    double total = 0;
    for (int r0 = i * seq; r0 < (i + 1) * seq; r0 += block) {
      const int rows = std::min(block, (i + 1) * seq - r0);
      productPacked(packedWt, d, v, x + long(r0) * d, d, 1, logits, false, rows);
      for (int p = 0; p < rows; p++) {
        float* row = logits + long(p) * v;
        const int r = r0 + p;
        const float nll = wide ? rowLoss512(row, v, targets[r], rowScale[r]) : rowLoss256(row, v, targets[r], rowScale[r]);
        if (rowWeights[r] != 0) total += double(rowWeights[r]) * double(nll);
      }
      // dx = dlogits·W: W [v, d] is B as it is, read in place
      if (!product(rowsOfW, logits, v, 1, dx + long(r0) * d, nullptr, false, rows)) return false;
    }
    totals[i] = total;
  }
  return true;
}

}  // namespace maskforge
