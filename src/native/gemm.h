// The native GEMM (gemm.cc) as the N-API functions (addon.cc) call it.
#pragma once

#include <cstddef>

namespace maskforge {

enum class Isa { none, avx2, avx512 };

/** the best tile this CPU runs (none: no AVX2+FMA), and the one in use, process-wide */
Isa bestIsa();
Isa currentIsa();
/** uses a tile the CPU supports (benchmarks, tests); others are ignored */
void useIsa(Isa isa);

// How B's element (r, q) (r < k over the shared dimension, q < n) is read: from W [n, k] (forward: B = (W ⊙ M)ᵀ) or
// W [k, n] (input grad: B = W ⊙ M), times the mask: none, given (laid out as W), or soft (M̃ from ỹ and S).
struct BSource {
  const float* w;
  bool transposed;     // B = Wᵀ: W is [n, k]
  const float* mask;   // hard mask, as W, or null
  const float* probs;  // soft: ỹ [groups, c]
  const float* s;      // soft: S [c, m]
  int c, m;
  int k, n;
};

/**
 * C [m, n] (row stride n) (+)= A·B with A(p, r) = a[p·ap + r·ar] (m rows, k steps) and B packed from src on this
 * thread; mask (laid out as C, or null): C ⊙= mask at the end. False when the scratch cannot be allocated.
 */
bool product(const BSource& src, const float* a, long ap, long ar, float* c, const float* mask, bool accumulate, int m);

// A frozen, unmasked W [n, k] (the lm_head) used as B = Wᵀ many times: packed once into panels of the current tile
// (packedFloats(k, n) floats; all threads of a run use one tile) and then multiplied without packing again.
size_t packedFloats(int k, int n);
void packTransposed(const float* w, int k, int n, float* out);
/**
 * The part of B's panels (packedFloats(k, n) floats in all) that W's output rows o0..o1 make: for B = (W ⊙ M)ᵀ
 * its columns, rounded to the current tile's panels (a panel goes to the range holding its first column); for
 * B = W ⊙ M its rows. The parts of a partition of W's rows pack disjoint floats, so threads can fill one shared
 * buffer, which productPacked then reads.
 */
void packWeightRows(const BSource& src, int o0, int o1, float* out);
/** C [m, n] (+)= A·B, B from packTransposed's or packWeightRows' panels */
void productPacked(const float* packed, int k, int n, const float* a, long ap, long ar, float* c, bool accumulate, int m);

}  // namespace maskforge
