// Long file: the per-step mask math, each pass beside the 2:4 sixteen-lane form that must give its bits
// The host trainer's per-step mask math (mask-step.h) on the caller's arrays: the wasm kernels' math op for op, so the
// results are bit-identical to theirs (test/native/mask-step.test.ts). The O(parameters) passes with transcendental
// work (Gumbel noise + softmax, AdamW) run on AVX-512 or AVX2 vectors (mask-step-simd.inc, compiled once per ISA
// under a target pragma and picked with the GEMM's tile, gemm.h); the per-group passes are scalar, as the f64 sums
// of their stats must be added group by group in the wasm kernel's order to give its bits.
//
// No FMA contraction: GCC fuses a·b + c (vector extensions included) under an FMA target by default, which would
// round differently from wasm's separate mul and add.
#pragma GCC optimize("fp-contract=off")

#include "mask-step.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace maskforge {
namespace {

#define MF_SIMD_BODY "mask-step-simd.inc"
#include "simd-isas.inc"

bool wide() { return currentIsa() == Isa::avx512; }

// Sixteen groups of 2:4 state a lane each: value j of every group from their 96 (six per group) or 64 (four) floats,
// by lane shuffles of the contiguous loads rather than gathers. Lanes 0..7 come from the first half of the floats,
// 8..15 from the second; within a half, positions below 32 by a two-source permute of its first two loads, the rest
// (six per group) from its third.
struct Deal {
  alignas(64) int six[6][16], sixHi[6][16], four[4][16];
  __mmask16 sixFromThird[6];
  Deal() {
    for (int j = 0; j < 6; j++) {
      sixFromThird[j] = 0;
      for (int g = 0; g < 16; g++) {
        const int p = 6 * (g & 7) + j;  // within its half's 48 floats
        six[j][g] = p & 31;
        sixHi[j][g] = p & 15;
        if (p >= 32) sixFromThird[j] |= __mmask16(1u << g);
      }
    }
    for (int i = 0; i < 4; i++)
      for (int g = 0; g < 16; g++) four[i][g] = 4 * (g & 7) + i;
  }
};
const Deal deal;

__attribute__((target("avx512f"))) inline __m512 dealt6(const float* p, int j) {
  const __m512i lo = _mm512_load_si512(deal.six[j]), hi = _mm512_load_si512(deal.sixHi[j]);
  const __mmask16 third = deal.sixFromThird[j];
  const __m512 a = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(_mm512_loadu_ps(p), lo, _mm512_loadu_ps(p + 16)), third, hi, _mm512_loadu_ps(p + 32));
  const __m512 b = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(_mm512_loadu_ps(p + 48), lo, _mm512_loadu_ps(p + 64)), third, hi, _mm512_loadu_ps(p + 80));
  return _mm512_mask_mov_ps(a, 0xff00, b);
}

__attribute__((target("avx512f"))) inline __m512 dealt4(const float* p, int i) {
  const __m512i idx = _mm512_load_si512(deal.four[i]);
  return _mm512_mask_mov_ps(_mm512_permutex2var_ps(_mm512_loadu_ps(p), idx, _mm512_loadu_ps(p + 16)), 0xff00, _mm512_permutex2var_ps(_mm512_loadu_ps(p + 32), idx, _mm512_loadu_ps(p + 48)));
}

// wasm's f32.max: NaN if either is
inline float wasmMax(float a, float b) { return a != a || b != b ? a + b : a > b ? a : b; }

// One group's M̃ [m] from its ỹ [c], as softMask() (hard: S's row of the first largest ỹ).
template <int CT, int MT>
inline void maskRow(const float* pr, const float* s, float* out, int cr, int mr, bool hard) {
  const int c = CT ? CT : cr, m = MT ? MT : mr;
  if (hard) {
    int best = 0;
    float bv = pr[0];
    for (int j = 1; j < c; j++)
      if (pr[j] > bv) bv = pr[j], best = j;
    std::memcpy(out, s + best * m, m * sizeof(float));
    return;
  }
  for (int i = 0; i < m; i++) {
    float acc = 0;
    for (int j = 0; j < c; j++) acc += pr[j] * s[j * m + i];
    out[i] = acc;
  }
}

template <int CT, int MT>
void softMaskT(const float* probs, const float* s, float* masks, long groups, int cr, int mr, bool hard) {
  const int c = CT ? CT : cr, m = MT ? MT : mr;
  for (long g = 0; g < groups; g++) maskRow<CT, MT>(probs + g * c, s, masks + g * m, c, m, hard);
}

template <int CT, int MT>
void candidateGradT(const float* dm, const float* s, float* dp, long groups, int cr, int mr) {
  const int c = CT ? CT : cr, m = MT ? MT : mr;
  for (long g = 0; g < groups; g++) {
    const float* src = dm + g * m;
    float* dst = dp + g * c;
    for (int j = 0; j < c; j++) {
      float acc = 0;
      for (int i = 0; i < m; i++)
        if (s[j * m + i] != 0) acc += src[i];
      dst[j] = dst[j] + acc;
    }
  }
}

// (stats: the running f64 sums, in group order)
template <int CT, int MT>
void logitsGradT(const float* probs, float* dp, const float* w, const float* s, long groups, int cr, int mr, float scale, float twoLambda, bool hard, double stats[3]) {
  const int c = CT ? CT : cr, m = MT ? MT : mr;
  std::vector<float> row(m);
  float* mk = row.data();
  double reg = stats[0], maxProb = stats[1], sq = stats[2];
  for (long g = 0; g < groups; g++) {
    const float* pr = probs + g * c;
    float* d = dp + g * c;
    const float* wr = w + g * m;
    maskRow<CT, MT>(pr, s, mk, c, m, hard);
    for (int i = 0; i < m; i++) {
      const float wm = wr[i] * wr[i] * mk[i];
      reg += double(wm * mk[i]);
      const float dm = -twoLambda * wm;
      if (dm != 0)
        for (int j = 0; j < c; j++)
          if (s[j * m + i] != 0) d[j] = d[j] + dm;
    }
    float dot = 0, best = 0;
    for (int j = 0; j < c; j++) {
      dot += d[j] * pr[j];
      best = wasmMax(best, pr[j]);
    }
    maxProb += double(best);
    for (int j = 0; j < c; j++) {
      const float v = scale * pr[j] * (d[j] - dot);
      d[j] = v;
      sq += double(v * v);
    }
  }
  stats[0] = reg;
  stats[1] = maxProb;
  stats[2] = sq;
}

}  // namespace

void gumbelNoise(float* out, long n, uint32_t seed, float scale) {
  if (wide()) avx512::gumbelNoise(out, n, seed, scale);
  else avx2::gumbelNoise(out, n, seed, scale);
}

void sampleProbs(const float* logits, float* probs, long groups, int c, uint32_t seed, float invTau, float scale) {
  if (wide()) avx512::sampleProbs(logits, probs, groups, c, seed, invTau, scale);
  else avx2::sampleProbs(logits, probs, groups, c, seed, invTau, scale);
}

void adamw(float* logits, float* mom, float* vel, const float* grad, long n, float coef, float b1, float b2, float eps, float decay, float stepSize, float invSqrtBc2) {
  if (wide()) avx512::adamw(logits, mom, vel, grad, n, coef, b1, b2, eps, decay, stepSize, invSqrtBc2);
  else avx2::adamw(logits, mom, vel, grad, n, coef, b1, b2, eps, decay, stepSize, invSqrtBc2);
}

// The per-group passes with C and M known at compile time for 2:4 (C 6) and 1:4 (C 4), which lets GCC unroll them.
#define MF_DISPATCH(fn, ...)                                     \
  if (c == 6 && m == 4) fn<6, 4>(__VA_ARGS__);                   \
  else if (c == 4 && m == 4) fn<4, 4>(__VA_ARGS__);              \
  else fn<0, 0>(__VA_ARGS__);

void softMask(const float* probs, const float* s, float* masks, long groups, int c, int m, bool hard) { MF_DISPATCH(softMaskT, probs, s, masks, groups, c, m, hard) }

// 2:4's candidate gradient sixteen groups at a time: their 64 values of ∂M̃ are four loads and their 96 of ∂ỹ six.
// Each ∂ỹ register (positions 16k..16k+15: group p/6, candidate p%6) reads at most four groups, whose ∂M̃ sit in
// two adjacent loads, so the two terms of every lane are two two-source permutes; (0 + first) + second is the scalar
// loop's sum, so the same bits. The scalar loop took 6.4 ns a group (2.5 ms at 768×2048, an eighth of the mask
// gradient), short of memory speed.
struct Candidates24 {
  alignas(64) int first[6][16], second[6][16];
  int lo[6];  // the first of the two loads each ∂ỹ register reads
};

// S's two non-zeros per row (the candidates of 2:4), or false
bool candidates24(const float* s, Candidates24* t) {
  int at[6][2];
  for (int j = 0; j < 6; j++) {
    int n = 0;
    for (int i = 0; i < 4; i++)
      if (s[j * 4 + i] != 0) {
        if (n == 2) return false;
        at[j][n++] = i;
      }
    if (n != 2) return false;
  }
  for (int k = 0; k < 6; k++) {
    t->lo[k] = std::min(2, (16 * k / 6) * 4 / 16);
    for (int l = 0; l < 16; l++) {
      const int p = 16 * k + l, g = p / 6, j = p % 6;
      t->first[k][l] = 4 * g + at[j][0] - 16 * t->lo[k];
      t->second[k][l] = 4 * g + at[j][1] - 16 * t->lo[k];
    }
  }
  return true;
}

__attribute__((target("avx512f"))) long candidateGrad16(const float* dm, const Candidates24& t, float* dp, long groups) {
  long g = 0;
  for (; g + 16 <= groups; g += 16) {
    const float* src = dm + g * 4;
    float* dst = dp + g * 6;
    const __m512 in[4] = {_mm512_loadu_ps(src), _mm512_loadu_ps(src + 16), _mm512_loadu_ps(src + 32), _mm512_loadu_ps(src + 48)};
    for (int k = 0; k < 6; k++) {
      const __m512 a = in[t.lo[k]], b = in[t.lo[k] + 1];
      const __m512 first = _mm512_permutex2var_ps(a, _mm512_load_si512(t.first[k]), b);
      const __m512 second = _mm512_permutex2var_ps(a, _mm512_load_si512(t.second[k]), b);
      const __m512 acc = _mm512_add_ps(_mm512_add_ps(_mm512_setzero_ps(), first), second);
      _mm512_storeu_ps(dst + 16 * k, _mm512_add_ps(_mm512_loadu_ps(dst + 16 * k), acc));
    }
  }
  return g;
}

void candidateGrad(const float* dm, const float* s, float* dp, long groups, int c, int m) {
  Candidates24 t;
  if (c == 6 && m == 4 && wide() && candidates24(s, &t)) {
    const long done = candidateGrad16(dm, t, dp, groups);
    dm += done * 4, dp += done * 6, groups -= done;
  }
  MF_DISPATCH(candidateGradT, dm, s, dp, groups, c, m)
}

// 2:4's soft logits' gradient sixteen groups at a time: ỹ, ∂ỹ and W dealt a candidate (or position) to a register,
// logitsGradT's operations lane by lane in its order, ∂π written back through a buffer, and each group's terms of
// the three f64 sums added in the scalar loop's order, so the same bits. The scalar loop took 20 ns a group (0.42 s
// a step at the 110M shape on one thread); the f64 sums' chains are most of what is left.
__attribute__((target("avx512f"))) long logitsGrad16(const float* probs, float* dp, const float* w, const float* s, long groups, float scale, float twoLambda, double stats[3]) {
  alignas(64) float regT[4][16], bestT[16], sqT[6][16], out[6][16];
  const __m512 zero = _mm512_setzero_ps(), sc = _mm512_set1_ps(scale), neg = _mm512_set1_ps(-twoLambda);
  double reg = stats[0], maxProb = stats[1], sq = stats[2];
  long g = 0;
  for (; g + 16 <= groups; g += 16) {
    const float *pr = probs + g * 6, *wr = w + g * 4;
    float* d = dp + g * 6;
    __m512 p[6], dv[6];
    for (int j = 0; j < 6; j++) p[j] = dealt6(pr, j), dv[j] = dealt6(d, j);
    for (int i = 0; i < 4; i++) {
      const __m512 wi = dealt4(wr, i);
      __m512 mk = zero;
      for (int j = 0; j < 6; j++) mk = _mm512_add_ps(mk, _mm512_mul_ps(p[j], _mm512_set1_ps(s[j * 4 + i])));
      const __m512 wm = _mm512_mul_ps(_mm512_mul_ps(wi, wi), mk);
      _mm512_store_ps(regT[i], _mm512_mul_ps(wm, mk));
      const __m512 dm = _mm512_mul_ps(neg, wm);
      const __mmask16 nonzero = _mm512_cmp_ps_mask(dm, zero, _CMP_NEQ_UQ);  // dm != 0 (NaN included)
      for (int j = 0; j < 6; j++)
        if (s[j * 4 + i] != 0) dv[j] = _mm512_mask_add_ps(dv[j], nonzero, dv[j], dm);
    }
    __m512 dot = zero, best = zero;
    for (int j = 0; j < 6; j++) {
      dot = _mm512_add_ps(dot, _mm512_mul_ps(dv[j], p[j]));
      // wasmMax(best, p): NaN if either is, else best > p ? best : p
      const __m512 larger = _mm512_mask_mov_ps(p[j], _mm512_cmp_ps_mask(best, p[j], _CMP_GT_OQ), best);
      best = _mm512_mask_mov_ps(larger, _mm512_cmp_ps_mask(best, p[j], _CMP_UNORD_Q), _mm512_add_ps(best, p[j]));
    }
    _mm512_store_ps(bestT, best);
    for (int j = 0; j < 6; j++) {
      const __m512 v = _mm512_mul_ps(_mm512_mul_ps(sc, p[j]), _mm512_sub_ps(dv[j], dot));
      _mm512_store_ps(out[j], v);
      _mm512_store_ps(sqT[j], _mm512_mul_ps(v, v));
    }
    for (int l = 0; l < 16; l++) {
      for (int i = 0; i < 4; i++) reg += double(regT[i][l]);
      maxProb += double(bestT[l]);
      for (int j = 0; j < 6; j++) {
        d[l * 6 + j] = out[j][l];
        sq += double(sqT[j][l]);
      }
    }
  }
  stats[0] = reg, stats[1] = maxProb, stats[2] = sq;
  return g;
}

void candidateLogitsGrad(const float* probs, float* dp, const float* w, const float* s, long groups, int c, int m, float scale, float twoLambda, bool hard, double stats[3]) {
  stats[0] = stats[1] = stats[2] = 0;
  if (c == 6 && m == 4 && !hard && wide()) {
    const long done = logitsGrad16(probs, dp, w, s, groups, scale, twoLambda, stats);
    probs += done * 6, dp += done * 6, w += done * 4, groups -= done;
  }
  MF_DISPATCH(logitsGradT, probs, dp, w, s, groups, c, m, scale, twoLambda, hard, stats)
}

// c a compile-time constant for 2:4 (6) and 1:4 (4): the compare chain unrolls
template <int C>
long argmaxChangesOf(const float* logits, long groups, int c, uint16_t* prev) {
  const int cc = C > 0 ? C : c;
  long changed = 0;
  for (long i = 0; i < groups; i++) {
    const float* l = logits + i * cc;
    // branch-free (selects, not jumps): on logits that change from step to step the jumps mispredicted, 2.3 GB/s
    int best = 0;
    float bv = l[0];
    for (int j = 1; j < cc; j++) {
      const bool gt = l[j] > bv;
      bv = gt ? l[j] : bv;
      best = gt ? j : best;
    }
    changed += prev[i] != best;
    prev[i] = uint16_t(best);
  }
  return changed;
}

// Sixteen groups at a time, a lane each, with the same ordered compare as above (false on NaN, so the first candidate
// wins ties and NaN never does). 2:4's six candidates are dealt (dealt6); other counts gather candidate j (its values
// c floats apart), which on this CPU ran little faster than the scalar loop. The scalar loop ran at 0.8 GB/s, a pass
// over every logit at each progress report (160 ms at the 110M shape).
__attribute__((target("avx512f"))) long argmaxChanges16(const float* logits, long groups, int c, uint16_t* prev) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(c));
  long changed = 0, i = 0;
  for (; i + 16 <= groups; i += 16) {
    const float* l = logits + i * c;
    auto candidate = [&](int j) { return c == 6 ? dealt6(l, j) : _mm512_i32gather_ps(idx, l + j, 4); };
    __m512 bv = candidate(0);
    __m512i best = _mm512_setzero_si512();
    for (int j = 1; j < c; j++) {
      const __m512 v = candidate(j);
      const __mmask16 gt = _mm512_cmp_ps_mask(v, bv, _CMP_GT_OQ);
      bv = _mm512_mask_mov_ps(bv, gt, v);
      best = _mm512_mask_mov_epi32(best, gt, _mm512_set1_epi32(j));
    }
    __m256i* p = reinterpret_cast<__m256i*>(prev + i);
    const __m512i was = _mm512_cvtepu16_epi32(_mm256_loadu_si256(p));
    changed += __builtin_popcount(_mm512_cmpneq_epi32_mask(was, best));
    _mm256_storeu_si256(p, _mm512_cvtepi32_epi16(best));
  }
  return changed + argmaxChangesOf<0>(logits + i * c, groups - i, c, prev + i);
}

long argmaxChanges(const float* logits, long groups, int c, uint16_t* prev) {
  // (the gather's offsets are 32-bit)
  if (wide() && long(c) * 16 < (1L << 29)) return argmaxChanges16(logits, groups, c, prev);
  return c == 6 ? argmaxChangesOf<6>(logits, groups, c, prev) : c == 4 ? argmaxChangesOf<4>(logits, groups, c, prev) : argmaxChangesOf<0>(logits, groups, c, prev);
}

}  // namespace maskforge
