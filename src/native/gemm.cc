// Long file: one concept, the blocked GEMM every native product shares (packing, the two ISAs' register tiles, the
// blocking). The host trainer's linear products in native code (an optional N-API addon, addon.cc; src/native/loader.ts
// loads it, and the wasm kernels in src/maskllm/kernels stay the fallback). One cache-blocked float32 GEMM, C [m, n]
// (+)= A·B, as GotoBLAS/BLIS do: B packed once per call into NR-column panels (with the mask, given or formed from the
// soft mask's ỹ, applied while packing, so W ⊙ M̃ never exists whole; an unmasked B = W is read in place, and the
// frozen lm_head is packed once for a run: packTransposed; a product whose tokens are split over threads has its B
// packed once, by all of them, into one shared buffer: packWeightRows), the shared dimension in slices of KC, A's
// rows of a slice packed into MR-row micro-panels, and an MR × NR register tile: 12×32 on AVX-512, 6×16 on AVX2+FMA,
// each compiled for its ISA by a target attribute and picked at load time from the CPU's features, so the .node loads
// on any x86-64 (one without AVX2+FMA reports no ISA, and the loader keeps wasm). Each element of C is summed in the
// same order whatever rows a call covers (fixed KC slices, each accumulated step by step in registers, then added to
// C), so splitting an op's rows over threads does not change its values.
#include "gemm.h"
#include "scratch.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace maskforge {
namespace {

constexpr int KC = 256;  // steps of the shared dimension per slice: an A micro-panel (KC × MR) stays in L1
constexpr int NC = 512;  // columns per block: a block of B's panels (KC × NC, 512 KiB) stays in L2
constexpr size_t SMALL_A = 1 << 18;  // floats of A (1 MiB) up to which it is packed whole (blocked())

struct Tile {
  int mr, nr;
  // one MR × NR tile over kl steps from packed panels (B's rows ldb floats apart: NR when packed, W's width when
  // read in place); first: C = (else C +=); mask: then C ⊙= mask (same layout)
  void (*kernel)(int kl, const float* pa, const float* pb, long ldb, float* c, long ldc, const float* mask, bool first, int rows, int cols);
};

// Writes the tile acc (rows × cols valid, row stride nr) into C.
inline void epilogue(const float* acc, int nr, float* c, long ldc, const float* mask, bool first, int rows, int cols) {
  for (int i = 0; i < rows; i++)
    for (int q = 0; q < cols; q++) {
      float v = acc[i * nr + q];
      if (!first) v += c[i * ldc + q];
      if (mask) v *= mask[i * ldc + q];
      c[i * ldc + q] = v;
    }
}

// (accumulators as named variables: as an array, GCC stored them to the stack every step)
#define MF_ROW(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0;
#define MF_STEP(i)                                \
  {                                               \
    const __m512 ai = _mm512_set1_ps(pa[i]);      \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);   \
    c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);   \
  }
#define MF_OUT(i) out[i][0] = c##i##0, out[i][1] = c##i##1;
__attribute__((target("avx512f"))) void tile512(int kl, const float* pa, const float* pb, long ldb, float* c, long ldc, const float* mask, bool first, int rows, int cols) {
  constexpr int MR = 12;
  MF_ROW(0) MF_ROW(1) MF_ROW(2) MF_ROW(3) MF_ROW(4) MF_ROW(5) MF_ROW(6) MF_ROW(7) MF_ROW(8) MF_ROW(9) MF_ROW(10) MF_ROW(11)
  for (int r = 0; r < kl; r++, pa += MR, pb += ldb) {
    const __m512 b0 = _mm512_loadu_ps(pb);
    const __m512 b1 = _mm512_loadu_ps(pb + 16);
    MF_STEP(0) MF_STEP(1) MF_STEP(2) MF_STEP(3) MF_STEP(4) MF_STEP(5) MF_STEP(6) MF_STEP(7) MF_STEP(8) MF_STEP(9) MF_STEP(10) MF_STEP(11)
  }
  __m512 out[MR][2];
  MF_OUT(0) MF_OUT(1) MF_OUT(2) MF_OUT(3) MF_OUT(4) MF_OUT(5) MF_OUT(6) MF_OUT(7) MF_OUT(8) MF_OUT(9) MF_OUT(10) MF_OUT(11)
  if (rows == MR && cols == 32) {
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
      __m512 v0 = out[i][0], v1 = out[i][1];
      if (!first) {
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(ci));
        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(ci + 16));
      }
      if (mask) {
        v0 = _mm512_mul_ps(v0, _mm512_loadu_ps(mask + i * ldc));
        v1 = _mm512_mul_ps(v1, _mm512_loadu_ps(mask + i * ldc + 16));
      }
      _mm512_storeu_ps(ci, v0);
      _mm512_storeu_ps(ci + 16, v1);
    }
    return;
  }
  alignas(64) float spill[MR * 32];
  for (int i = 0; i < MR; i++) {
    _mm512_store_ps(spill + i * 32, out[i][0]);
    _mm512_store_ps(spill + i * 32 + 16, out[i][1]);
  }
  epilogue(spill, 32, c, ldc, mask, first, rows, cols);
}
#undef MF_ROW
#undef MF_STEP
#undef MF_OUT

#define MF_ROW(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = c##i##0;
#define MF_STEP(i)                                   \
  {                                                  \
    const __m256 ai = _mm256_broadcast_ss(pa + i);   \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);      \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);      \
  }
#define MF_OUT(i) out[i][0] = c##i##0, out[i][1] = c##i##1;
__attribute__((target("avx2,fma"))) void tile256(int kl, const float* pa, const float* pb, long ldb, float* c, long ldc, const float* mask, bool first, int rows, int cols) {
  constexpr int MR = 6;
  MF_ROW(0) MF_ROW(1) MF_ROW(2) MF_ROW(3) MF_ROW(4) MF_ROW(5)
  for (int r = 0; r < kl; r++, pa += MR, pb += ldb) {
    const __m256 b0 = _mm256_loadu_ps(pb);
    const __m256 b1 = _mm256_loadu_ps(pb + 8);
    MF_STEP(0) MF_STEP(1) MF_STEP(2) MF_STEP(3) MF_STEP(4) MF_STEP(5)
  }
  __m256 out[MR][2];
  MF_OUT(0) MF_OUT(1) MF_OUT(2) MF_OUT(3) MF_OUT(4) MF_OUT(5)
  if (rows == MR && cols == 16) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
      __m256 v0 = out[i][0], v1 = out[i][1];
      if (!first) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(ci));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(ci + 8));
      }
      if (mask) {
        v0 = _mm256_mul_ps(v0, _mm256_loadu_ps(mask + i * ldc));
        v1 = _mm256_mul_ps(v1, _mm256_loadu_ps(mask + i * ldc + 8));
      }
      _mm256_storeu_ps(ci, v0);
      _mm256_storeu_ps(ci + 8, v1);
    }
    return;
  }
  alignas(32) float spill[MR * 16];
  for (int i = 0; i < MR; i++) {
    _mm256_store_ps(spill + i * 16, out[i][0]);
    _mm256_store_ps(spill + i * 16 + 8, out[i][1]);
  }
  epilogue(spill, 16, c, ldc, mask, first, rows, cols);
}
#undef MF_ROW
#undef MF_STEP
#undef MF_OUT

Isa detectIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
  return Isa::none;
}

const Isa best = detectIsa();
Isa isa = best;  // process-wide: every thread must use the same tile (the same sums) for a run

Tile currentTile() { return isa == Isa::avx512 ? Tile{12, 32, tile512} : Tile{6, 16, tile256}; }

// a thread's B panels and A micro-panels (scratch.h)
thread_local Scratch scratchB, scratchA;

thread_local Scratch scratchRow, scratchPanel;

// M̃ ⊙ W for `groups` whole groups of 4 (out = w · Σ_c ỹ[g][c]·S[c][·]), four groups to a 16-lane register: ỹ's c
// values of each group are spread over its four lanes by a permute, so each step is one multiply and one add over
// 16 weights. The same multiplies and adds in the same order as the 4-lane loop below (separate, never fused), so
// the same bits. c ≤ 8 (two registers hold four groups' ỹ); returns the groups done, a multiple of 4.
__attribute__((target("avx512f"))) int softRows4(const float* w, const float* pr, const float* s, int c, int groups, float* out) {
  if (c > 8) return 0;
  __m512 sv[8];
  __m512i iv[8];
  alignas(64) float sl[16];
  alignas(64) int il[16];
  for (int j = 0; j < c; j++) {
    for (int l = 0; l < 16; l++) sl[l] = s[j * 4 + (l & 3)], il[l] = (l >> 2) * c + j;
    sv[j] = _mm512_load_ps(sl);
    iv[j] = _mm512_load_si512(il);
  }
  const int n = 4 * c;  // ỹ floats of four groups
  const __mmask16 loMask = n >= 16 ? 0xffff : __mmask16((1u << n) - 1);
  const __mmask16 hiMask = n > 16 ? __mmask16((1u << (n - 16)) - 1) : 0;
  int g = 0;
  for (; g + 4 <= groups; g += 4, pr += n) {
    const __m512 lo = _mm512_maskz_loadu_ps(loMask, pr), hi = _mm512_maskz_loadu_ps(hiMask, pr + 16);
    __m512 acc = _mm512_mul_ps(_mm512_permutex2var_ps(lo, iv[0], hi), sv[0]);
#pragma GCC unroll 8
    for (int j = 1; j < 8; j++)
      if (j < c) acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_permutex2var_ps(lo, iv[j], hi), sv[j]));
    _mm512_storeu_ps(out + 4 * g, _mm512_mul_ps(acc, _mm512_loadu_ps(w + 4 * g)));
  }
  return g;
}

// Columns q0..q1 of row i of W ⊙ M (W's rows are len floats and hold whole groups of m, as the input is a multiple
// of m), indexed from q0: W's own row when there is no mask, else the product in dst (or a thread's scratch).
// M̃ = Σ_c ỹ[g][c]·S[c][pos] four positions at a time where m is a multiple of 4 (what the wasm kernels require),
// and four groups at a time for 2:4 on AVX-512; this packing is O(weights) against the product's O(tokens·weights),
// and was half the time of a soft product element by element.
const float* maskedRow(const BSource& src, long i, int len, int q0, int q1, float* dst = nullptr) {
  const float* w = src.w + i * len;
  if (!src.mask && !src.probs) return w + q0;
  if (src.mask) {
    float* out = dst ? dst : scratchRow.get(size_t(len));
    const float* mk = src.mask + i * len;
    for (int q = q0; q < q1; q++) out[q - q0] = w[q] * mk[q];
    return out;
  }
  // whole groups: from the one holding q0 to the one holding q1 − 1
  const int m = src.m, c = src.c, g0 = q0 - q0 % m, g1 = std::min(len, (q1 + m - 1) / m * m);
  // dst holds columns from q0: the groups' first weights before it land in the row scratch instead
  float* out = dst && g0 == q0 ? dst : scratchRow.get(size_t(len));
  const float* pr = src.probs + (i * len + g0) / m * c;
  int g = g0;
  if (m == 4 && isa == Isa::avx512) {
    const int done = softRows4(w + g0, pr, src.s, c, (g1 - g0) / 4, out);
    g += 4 * done;
    pr += done * c;
  }
  for (; g < g1; g += m, pr += c) {
    float* o = out + (g - g0);
    if (m % 4 == 0)
      for (int pos = 0; pos < m; pos += 4) {
        __m128 acc = _mm_mul_ps(_mm_set1_ps(pr[0]), _mm_loadu_ps(src.s + pos));
        for (int j = 1; j < c; j++) acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(pr[j]), _mm_loadu_ps(src.s + j * m + pos)));
        _mm_storeu_ps(o + pos, _mm_mul_ps(acc, _mm_loadu_ps(w + g + pos)));
      }
    else
      for (int pos = 0; pos < m; pos++) {
        float mt = pr[0] * src.s[pos];
        for (int j = 1; j < c; j++) mt += pr[j] * src.s[j * m + pos];
        o[pos] = w[g + pos] * mt;
      }
  }
  return out + (q0 - g0);
}

// Panel rows r = 0..k−1 of dst (nr floats each) from `rows` rows of a tile (row stride ld): dst[r][q] = tile[q][r],
// columns from `rows` on zero. A gather of 16 strided floats per store, instead of a scalar store per weight.
__attribute__((target("avx512f"))) void transposePanel512(const float* tile, long ld, int rows, int k, int nr, float* dst) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(int(ld)));
  for (int qb = 0; qb < nr; qb += 16) {
    const int n = std::max(0, std::min(16, rows - qb));
    const __mmask16 keep = n == 16 ? 0xffff : __mmask16((1u << n) - 1);
    const float* base = tile + long(qb) * ld;
    for (int r = 0; r < k; r++) _mm512_storeu_ps(dst + long(r) * nr + qb, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), keep, idx, base + r, 4));
  }
}

// Rows r0..r1 of every panel of B = W ⊙ M [k, n] (not transposed: a row of W is a row of B), zero past n: each row
// of W ⊙ M is formed whole and copied into the panels. Threads that pack one buffer take ranges of rows, each
// streaming a contiguous block of W and ỹ (split by columns, two threads packed slower than one).
void packRows(const BSource& src, int nr, float* bp, int r0, int r1) {
  const int panels = (src.n + nr - 1) / nr;
  for (int r = r0; r < r1; r++) {
    const float* row = maskedRow(src, r, src.n, 0, src.n);
    for (int j = 0; j < panels; j++) {
      float* d = bp + long(j) * src.k * nr + long(r) * nr;
      const int cols = std::min(nr, src.n - j * nr);
      std::memcpy(d, row + long(j) * nr, sizeof(float) * cols);
      if (cols < nr) std::memset(d + cols, 0, sizeof(float) * (nr - cols));
    }
  }
}

// Panels j0..j1 of B = (W ⊙ M)ᵀ (nr columns each, zero past n; a row of W is a column of B): panel j holds k rows
// of nr floats at bp + j·k·nr. A panel's rows of W ⊙ M are formed into a tile, then transposed into the panel.
void packColumns(const BSource& src, int nr, float* bp, int j0, int j1) {
  const int panels = (src.n + nr - 1) / nr;
  if (j0 >= j1) return;
  if (j1 == panels && src.n % nr != 0) std::memset(bp + long(panels - 1) * src.k * nr, 0, sizeof(float) * src.k * nr);
  // (the gather's offsets are 32-bit)
  const bool wide = isa == Isa::avx512 && long(src.k) * 16 < (1L << 31) / 4;
  float* tile = wide && (src.mask || src.probs) ? scratchPanel.get(size_t(nr) * src.k) : nullptr;
  for (int j = j0; j < j1; j++) {
    const int qa = j * nr, qb = std::min(src.n, qa + nr);
    float* dst = bp + long(j) * src.k * nr;
    if (wide && (tile || (!src.mask && !src.probs))) {
      // W's own rows, or W ⊙ M's formed into the tile
      for (int q = qa; tile && q < qb; q++) maskedRow(src, q, src.k, 0, src.k, tile + long(q - qa) * src.k);
      transposePanel512(tile ? tile : src.w + long(qa) * src.k, src.k, qb - qa, src.k, nr, dst);
      continue;
    }
    for (int q = qa; q < qb; q++) {
      const float* row = maskedRow(src, q, src.k, 0, src.k);
      for (int r = 0; r < src.k; r++) dst[long(r) * nr + (q - qa)] = row[r];
    }
  }
}

// A(p, r) = a[p·ap + r·ar] for rows 0..m−1, steps r0..r0+kl−1 → micro-panels of mr rows (zero past m): panel i
// holds kl steps of mr floats at dst + i·kl·mr.
void packA(const float* a, long ap, long ar, int m, int r0, int kl, int mr, float* dst) {
  if (ap == 1) {
    // A = a matrix's transpose (the mask gradient's dyᵀ): a panel's mr values of one step are adjacent, so copy
    // them step by step rather than walking each row down the steps
    for (int p0 = 0; p0 < m; p0 += mr) {
      float* d = dst + long(p0 / mr) * kl * mr;
      const int rows = std::min(mr, m - p0);
      for (int r = 0; r < kl; r++, d += mr) {
        const float* src = a + p0 + long(r0 + r) * ar;
        for (int l = 0; l < rows; l++) d[l] = src[l];
        for (int l = rows; l < mr; l++) d[l] = 0;
      }
    }
    return;
  }
  for (int p0 = 0; p0 < m; p0 += mr) {
    float* d = dst + long(p0 / mr) * kl * mr;
    for (int l = 0; l < mr; l++) {
      const int p = p0 + l;
      if (p >= m) {
        for (int r = 0; r < kl; r++) d[r * mr + l] = 0;
        continue;
      }
      const float* src = a + p * ap + long(r0) * ar;
      for (int r = 0; r < kl; r++) d[r * mr + l] = src[r * ar];
    }
  }
}

// Where the tile reads B's columns q0..q0+nr from step r0: packed panels, or W itself (B = W [k, n] with no mask:
// its rows already hold nr consecutive columns, so nothing is copied), with the last, partial panel packed.
struct BView {
  const float* packed;  // panels of nr columns, k rows each; null: read w
  const float* w;       // B = W [k, n], row stride n
  const float* tail;    // W's last n mod nr columns as one packed panel (zero past n), or null
  int k, n, nr;
  const float* at(int q0, int r0, long* ldb) const {
    if (packed) {
      *ldb = nr;
      return packed + long(q0 / nr) * k * nr + long(r0) * nr;
    }
    if (q0 + nr <= n) {
      *ldb = n;
      return w + long(r0) * n + q0;
    }
    *ldb = nr;
    return tail + long(r0) * nr;
  }
};

// C [m, n] (row stride n) (+)= A·B with B seen through b; mask (as C): C ⊙= mask at the end.
void blocked(const Tile& t, const float* a, long ap, long ar, const BView& b, float* c, const float* mask, bool accumulate, int m) {
  const int k = b.k, n = b.n;
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) std::fill(c, c + long(m) * n, 0.0f);
    return;
  }
  const int mPanels = (m + t.mr - 1) / t.mr;
  // the tiles of row panel i over the slice from r0, columns n0..n1 (first, last: whether it starts C or ends the sum)
  auto tiles = [&](const float* apack, int r0, int kl, int n0, int n1, int i) {
    const bool first = r0 == 0 && !accumulate, last = r0 + kl >= k;
    const int p = i * t.mr, rows = std::min(t.mr, m - p);
    const float* pa = apack + long(i) * kl * t.mr;
    for (int q0 = n0; q0 < n1; q0 += t.nr) {
      const long at = long(p) * n + q0;
      long ldb;
      const float* pb = b.at(q0, r0, &ldb);
      t.kernel(kl, pa, pb, ldb, c + at, n, last && mask ? mask + at : nullptr, first, rows, std::min(t.nr, n1 - q0));
    }
  };
  if (size_t(mPanels) * t.mr * k <= SMALL_A) {
    // few rows (the lm_head's row blocks): A packed whole, once, and C's columns in blocks outermost, so a block of
    // C stays in L2 over all the slices instead of all of C going to memory once a slice; each element of C still
    // sums its slices in order
    float* apack = scratchA.get(size_t(mPanels) * t.mr * k);
    for (int r0 = 0; r0 < k; r0 += KC) packA(a, ap, ar, m, r0, std::min(KC, k - r0), t.mr, apack + long(mPanels) * t.mr * r0);
    for (int n0 = 0; n0 < n; n0 += NC)
      for (int r0 = 0; r0 < k; r0 += KC)
        for (int i = 0; i < mPanels; i++) tiles(apack + long(mPanels) * t.mr * r0, r0, std::min(KC, k - r0), n0, std::min(n, n0 + NC), i);
    return;
  }
  float* apack = scratchA.get(size_t(mPanels) * t.mr * std::min(k, KC));
  for (int r0 = 0; r0 < k; r0 += KC) {
    const int kl = std::min(KC, k - r0);
    packA(a, ap, ar, m, r0, kl, t.mr, apack);
    for (int n0 = 0; n0 < n; n0 += NC)
      for (int i = 0; i < mPanels; i++) tiles(apack, r0, kl, n0, std::min(n, n0 + NC), i);
  }
}

}  // namespace

Isa bestIsa() { return best; }
Isa currentIsa() { return isa; }
void useIsa(Isa want) {
  if (want != Isa::none && int(want) <= int(best)) isa = want;
}

bool product(const BSource& src, const float* a, long ap, long ar, float* c, const float* mask, bool accumulate, int m) {
  const Tile t = currentTile();
  BView b{nullptr, src.w, nullptr, src.k, src.n, t.nr};
  if (src.transposed || src.mask || src.probs) {
    // W ⊙ M, or Wᵀ: packed whole, once per call
    float* bp = scratchB.get(packedFloats(src.k, src.n));
    if (!bp) return false;
    packWeightRows(src, 0, src.transposed ? src.n : src.k, bp);
    b.packed = bp;
  } else if (src.n % t.nr != 0) {
    // W read in place but for its last columns, packed as one zero-padded panel
    float* tail = scratchB.get(size_t(src.k) * t.nr);
    if (!tail) return false;
    const int q0 = src.n - src.n % t.nr;
    for (int r = 0; r < src.k; r++) {
      float* d = tail + long(r) * t.nr;
      std::memcpy(d, src.w + long(r) * src.n + q0, sizeof(float) * (src.n - q0));
      std::fill(d + (src.n - q0), d + t.nr, 0.0f);
    }
    b.tail = tail;
  }
  blocked(t, a, ap, ar, b, c, mask, accumulate, m);
  return true;
}

size_t packedFloats(int k, int n) {
  const int nr = currentTile().nr;
  return size_t((n + nr - 1) / nr) * nr * k;
}

void packTransposed(const float* w, int k, int n, float* out) {
  const BSource src{w, true, nullptr, nullptr, nullptr, 0, 0, k, n};
  packWeightRows(src, 0, n, out);
}

void packWeightRows(const BSource& src, int o0, int o1, float* out) {
  const int nr = currentTile().nr;
  if (src.transposed) packColumns(src, nr, out, (o0 + nr - 1) / nr, (o1 + nr - 1) / nr);
  else packRows(src, nr, out, o0, o1);
}

void productPacked(const float* packed, int k, int n, const float* a, long ap, long ar, float* c, bool accumulate, int m) {
  const Tile t = currentTile();
  blocked(t, a, ap, ar, BView{packed, nullptr, nullptr, k, n, t.nr}, c, nullptr, accumulate, m);
}

}  // namespace maskforge

