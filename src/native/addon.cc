// Long file: the addon's one N-API table, each function checking its arguments as the wasm wrapper it replaces
// The N-API face of the native GEMM (gemm.h), the lm_head loss (head-loss.h), the causal attention (attention.h),
// the elementwise layers (layers.h) and the mask-step math (mask-step.h): the functions src/native/loader.ts types
// as NativeAddon, checking their arguments with the wasm kernels' messages (src/maskllm/kernels/*-module.ts) before
// any work.
#include <node_api.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "attention.h"
#include "gemm.h"
#include "head-loss.h"
#include "layers.h"
#include "mask-step.h"

namespace {

using maskforge::BSource;
using maskforge::currentIsa;
using maskforge::Isa;
using maskforge::product;
using maskforge::useIsa;

napi_value throwError(napi_env env, const char* msg) {
  napi_throw_range_error(env, nullptr, msg);
  return nullptr;
}

// a Float32Array argument (or null/undefined when optional) → its data and length; false after throwing
bool f32Arg(napi_env env, napi_value v, bool optional, float** data, size_t* length) {
  napi_valuetype vt;
  napi_typeof(env, v, &vt);
  if (optional && (vt == napi_null || vt == napi_undefined)) {
    *data = nullptr;
    *length = 0;
    return true;
  }
  bool is = false;
  napi_is_typedarray(env, v, &is);
  napi_typedarray_type type;
  void* p = nullptr;
  if (is) napi_get_typedarray_info(env, v, &type, length, &p, nullptr, nullptr);
  if (!is || type != napi_float32_array) {
    throwError(env, "maskforge-native: expected a Float32Array");
    return false;
  }
  *data = static_cast<float*>(p);
  return true;
}

// a typed array of the given type → its data and length; false after throwing
template <typename T>
bool typedArg(napi_env env, napi_value v, napi_typedarray_type want, const char* what, T** data, size_t* length) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  napi_typedarray_type type;
  void* p = nullptr;
  if (is) napi_get_typedarray_info(env, v, &type, length, &p, nullptr, nullptr);
  if (!is || type != want) {
    char msg[120];
    std::snprintf(msg, sizeof msg, "maskforge-native: expected %s", what);
    throwError(env, msg);
    return false;
  }
  *data = static_cast<T*>(p);
  return true;
}

// Reads argc arguments into argv; false after throwing when there are not exactly argc.
bool args(napi_env env, napi_callback_info info, size_t argc, napi_value* argv, const char* name) {
  size_t have = argc;
  napi_get_cb_info(env, info, &have, argv, nullptr, nullptr);
  if (have == argc) return true;
  char msg[120];
  std::snprintf(msg, sizeof msg, "%s: %zu arguments", name, argc);
  throwError(env, msg);
  return false;
}

bool intArg(napi_env env, napi_value v, int* out) {
  if (napi_get_value_int32(env, v, out) != napi_ok || *out < 0) {
    throwError(env, "maskforge-native: expected a non-negative integer");
    return false;
  }
  return true;
}

// B of a linear's product from its arguments (w, mask, probs, s, m) and dims: forward B = (w ⊙ M)ᵀ, else w ⊙ M;
// M none, mask [out, in], or soft from probs [out·in/m, c] and s [c, m]. Throws (false) with the wasm kernels'
// op names and messages (matmul-module.ts), so a bad op fails the same way on either.
bool weightSource(napi_env env, const napi_value* argv, bool forward, int inDim, int outDim, const char* fn, BSource* src) {
  float *w, *mask, *probs, *s;
  size_t nw, nmask, nprobs, ns;
  int m;
  if (!f32Arg(env, argv[0], false, &w, &nw) || !f32Arg(env, argv[1], true, &mask, &nmask) || !f32Arg(env, argv[2], true, &probs, &nprobs) ||
      !f32Arg(env, argv[3], true, &s, &ns) || !intArg(env, argv[4], &m))
    return false;
  const char* op = probs ? (forward ? "softLinearForward" : "softLinearInputGrad") : forward ? "linearForward" : "linearInputGrad";
  char msg[200];
  if (nw != size_t(inDim) * outDim || (mask && nmask != nw)) {
    std::snprintf(msg, sizeof msg, "%s: %s has %zu values, expected %zu", op, mask && nmask != nw ? "mask" : "w", mask && nmask != nw ? nmask : nw, size_t(inDim) * outDim);
    throwError(env, msg);
    return false;
  }
  int c = 0;
  if (probs) {
    if (!s || m <= 0 || ns % m != 0 || inDim % m != 0 || ns == 0 || nprobs != nw / m * (ns / m)) {
      std::snprintf(msg, sizeof msg, "%s: a soft mask of %zu candidate probabilities and S of %zu values does not fit group size %d of input %d", op, nprobs, ns, m, inDim);
      throwError(env, msg);
      return false;
    }
    c = int(ns / m);
  }
  if (currentIsa() == Isa::none) {
    std::snprintf(msg, sizeof msg, "%s: this CPU has no AVX2+FMA", fn);
    throwError(env, msg);
    return false;
  }
  *src = BSource{w, forward, mask, probs, s, c, m, forward ? inDim : outDim, forward ? outDim : inDim};
  return true;
}

// out [tokens, n] (+)= a [tokens, k]·B: the lengths of a and out, checked under the wasm kernels' names
bool productOperands(napi_env env, bool forward, bool soft, size_t na, size_t nout, int tokens, int k, int n) {
  const char* op = soft ? (forward ? "softLinearForward" : "softLinearInputGrad") : forward ? "linearForward" : "linearInputGrad";
  const struct { const char* name; size_t have, want; } lengths[] = {{forward ? "x" : "dy", na, size_t(tokens) * k}, {forward ? "y" : "dx", nout, size_t(tokens) * n}};
  for (const auto& l : lengths)
    if (l.have != l.want) {
      char msg[200];
      std::snprintf(msg, sizeof msg, "%s: %s has %zu values, expected %zu", op, l.name, l.have, l.want);
      throwError(env, msg);
      return false;
    }
  return true;
}

// linear(forward, a, w, mask, probs, s, m, tokens, inDim, outDim, out, accumulate)
//   forward: out [tokens, out] (+)= a [tokens, in]·(w ⊙ M)ᵀ; else out [tokens, in] (+)= a [tokens, out]·(w ⊙ M)
napi_value Linear(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  if (!args(env, info, 12, argv, "linear")) return nullptr;
  bool forward = false, accumulate = false;
  napi_get_value_bool(env, argv[0], &forward);
  napi_get_value_bool(env, argv[11], &accumulate);
  float *a, *out;
  size_t na, nout;
  int tokens, inDim, outDim;
  BSource src;
  if (!f32Arg(env, argv[1], false, &a, &na) || !intArg(env, argv[7], &tokens) || !intArg(env, argv[8], &inDim) || !intArg(env, argv[9], &outDim) ||
      !f32Arg(env, argv[10], false, &out, &nout) || !weightSource(env, argv + 2, forward, inDim, outDim, "linear", &src) ||
      !productOperands(env, forward, src.probs != nullptr, na, nout, tokens, src.k, src.n))
    return nullptr;
  if (!product(src, a, long(src.k), 1, out, nullptr, accumulate, tokens)) return throwError(env, "linear: out of memory");
  return nullptr;
}

// packWeight(forward, w, mask, probs, s, m, inDim, outDim, packed, o0, o1): the part of linear's B that W's output
// rows o0..o1 make (see packWeightRows) into packed (packedFloats(k, n) floats), for linearPacked; threads pack
// the parts of one buffer
napi_value PackWeight(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (!args(env, info, 11, argv, "packWeight")) return nullptr;
  bool forward = false;
  napi_get_value_bool(env, argv[0], &forward);
  float* packed;
  size_t npacked;
  int inDim, outDim, o0, o1;
  BSource src;
  if (!intArg(env, argv[6], &inDim) || !intArg(env, argv[7], &outDim) || !f32Arg(env, argv[8], false, &packed, &npacked) || !intArg(env, argv[9], &o0) ||
      !intArg(env, argv[10], &o1) || !weightSource(env, argv + 1, forward, inDim, outDim, "packWeight", &src))
    return nullptr;
  char msg[200];
  if (npacked != maskforge::packedFloats(src.k, src.n) || o0 < 0 || o0 > o1 || o1 > outDim) {
    std::snprintf(msg, sizeof msg, "packWeight: %zu packed floats for output rows %d..%d, expected %zu and rows within %d", npacked, o0, o1, maskforge::packedFloats(src.k, src.n), outDim);
    return throwError(env, msg);
  }
  maskforge::packWeightRows(src, o0, o1, packed);
  return nullptr;
}

// linearPacked(forward, a, packed, tokens, inDim, outDim, out, accumulate): linear with B from packWeight
napi_value LinearPacked(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!args(env, info, 8, argv, "linearPacked")) return nullptr;
  bool forward = false, accumulate = false;
  napi_get_value_bool(env, argv[0], &forward);
  napi_get_value_bool(env, argv[7], &accumulate);
  float *a, *packed, *out;
  size_t na, npacked, nout;
  int tokens, inDim, outDim;
  if (!f32Arg(env, argv[1], false, &a, &na) || !f32Arg(env, argv[2], false, &packed, &npacked) || !intArg(env, argv[3], &tokens) || !intArg(env, argv[4], &inDim) ||
      !intArg(env, argv[5], &outDim) || !f32Arg(env, argv[6], false, &out, &nout))
    return nullptr;
  const int k = forward ? inDim : outDim, n = forward ? outDim : inDim;
  if (!productOperands(env, forward, false, na, nout, tokens, k, n)) return nullptr;
  if (npacked != maskforge::packedFloats(k, n)) {
    char msg[200];
    std::snprintf(msg, sizeof msg, "linearPacked: %zu packed floats, expected %zu", npacked, maskforge::packedFloats(k, n));
    return throwError(env, msg);
  }
  if (currentIsa() == Isa::none) return throwError(env, "linearPacked: this CPU has no AVX2+FMA");
  maskforge::productPacked(packed, k, n, a, k, 1, out, accumulate, tokens);
  return nullptr;
}

// maskedWeightGradRows(x, dy, w, tokens, inDim, outDim, r0, r1, g): g [r1−r0, in] = (dy[:, r0:r1]ᵀ·x) ⊙ w[r0:r1]
napi_value MaskedWeightGradRows(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!args(env, info, 9, argv, "maskedWeightGradRows")) return nullptr;
  float *x, *dy, *w, *g;
  size_t nx, ndy, nw, ng;
  int tokens, inDim, outDim, r0, r1;
  if (!f32Arg(env, argv[0], false, &x, &nx) || !f32Arg(env, argv[1], false, &dy, &ndy) || !f32Arg(env, argv[2], false, &w, &nw) || !intArg(env, argv[3], &tokens) ||
      !intArg(env, argv[4], &inDim) || !intArg(env, argv[5], &outDim) || !intArg(env, argv[6], &r0) || !intArg(env, argv[7], &r1) || !f32Arg(env, argv[8], false, &g, &ng))
    return nullptr;
  char msg[200];
  if (r1 < r0 || r1 > outDim) {
    std::snprintf(msg, sizeof msg, "maskedWeightGrad: rows %d..%d of %d", r0, r1, outDim);
    return throwError(env, msg);
  }
  const struct { const char* name; size_t have, want; } lengths[] = {
      {"x", nx, size_t(tokens) * inDim}, {"dy", ndy, size_t(tokens) * outDim}, {"w", nw, size_t(outDim) * inDim}, {"g", ng, size_t(r1 - r0) * inDim}};
  for (const auto& l : lengths)
    if (l.have != l.want) {
      std::snprintf(msg, sizeof msg, "maskedWeightGrad: %s has %zu values, expected %zu", l.name, l.have, l.want);
      return throwError(env, msg);
    }
  if (currentIsa() == Isa::none) return throwError(env, "maskedWeightGradRows: this CPU has no AVX2+FMA");
  // B = x [tokens, in] as it is; A(p, r) = dy[r, r0 + p] (dyᵀ read through strides); the epilogue multiplies by w
  const BSource src{x, false, nullptr, nullptr, nullptr, 0, 0, tokens, inDim};
  if (!product(src, dy + r0, 1, outDim, g, w + long(r0) * inDim, false, r1 - r0)) return throwError(env, "maskedWeightGradRows: out of memory");
  return nullptr;
}

// packedFloats(k, n): the length of B = Wᵀ's panels for W [n, k] on the tile in use
napi_value PackedFloats(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int k, n;
  if (!args(env, info, 2, argv, "packedFloats") || !intArg(env, argv[0], &k) || !intArg(env, argv[1], &n)) return nullptr;
  napi_value v;
  napi_create_double(env, double(maskforge::packedFloats(k, n)), &v);
  return v;
}

// packTransposed(w, k, n, out): out = panels of B = Wᵀ for W [n, k] (a frozen lm_head, packed once for a run)
napi_value PackTransposed(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv, "packTransposed")) return nullptr;
  float *w, *out;
  size_t nw, nout;
  int k, n;
  if (!f32Arg(env, argv[0], false, &w, &nw) || !intArg(env, argv[1], &k) || !intArg(env, argv[2], &n) || !f32Arg(env, argv[3], false, &out, &nout)) return nullptr;
  char msg[200];
  if (nw != size_t(k) * n || nout != maskforge::packedFloats(k, n)) {
    std::snprintf(msg, sizeof msg, "packTransposed: w has %zu values and out %zu, expected %zu and %zu", nw, nout, size_t(k) * n, maskforge::packedFloats(k, n));
    return throwError(env, msg);
  }
  if (currentIsa() == Isa::none) return throwError(env, "packTransposed: this CPU has no AVX2+FMA");
  maskforge::packTransposed(w, k, n, out);
  return nullptr;
}

// headLoss(x, w, packedWt, targets, rowWeights, rowScale, windows, seq, d, v, dx, totals): the headLoss op of
// src/maskllm/host/ops.ts (lmHeadLoss's contract), Wᵀ from packTransposed(w, d, v, packedWt)
napi_value HeadLoss(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  if (!args(env, info, 12, argv, "headLoss")) return nullptr;
  float *x, *w, *packed, *rowWeights, *rowScale, *dx;
  int* targets;
  double* totals;
  size_t nx, nw, npacked, nt, nrw, nrs, ndx, ntot;
  int windows, seq, d, v;
  if (!f32Arg(env, argv[0], false, &x, &nx) || !f32Arg(env, argv[1], false, &w, &nw) || !f32Arg(env, argv[2], false, &packed, &npacked) ||
      !typedArg(env, argv[3], napi_int32_array, "an Int32Array", &targets, &nt) || !f32Arg(env, argv[4], false, &rowWeights, &nrw) || !f32Arg(env, argv[5], false, &rowScale, &nrs) ||
      !intArg(env, argv[6], &windows) || !intArg(env, argv[7], &seq) || !intArg(env, argv[8], &d) || !intArg(env, argv[9], &v) || !f32Arg(env, argv[10], false, &dx, &ndx) ||
      !typedArg(env, argv[11], napi_float64_array, "a Float64Array", &totals, &ntot))
    return nullptr;
  const size_t rows = size_t(windows) * seq;
  char msg[200];
  const struct { const char* name; size_t have, want; } lengths[] = {
      {"x", nx, rows * d}, {"w", nw, size_t(v) * d}, {"packed lm_head", npacked, maskforge::packedFloats(d, v)}, {"targets", nt, rows}, {"rowWeights", nrw, rows}, {"rowScale", nrs, rows}, {"dx", ndx, rows * d}};
  for (const auto& l : lengths)
    if (l.have != l.want) {
      std::snprintf(msg, sizeof msg, "lmHeadLoss: %s has %zu values, expected %zu", l.name, l.have, l.want);
      return throwError(env, msg);
    }
  if (ntot < size_t(windows)) {
    std::snprintf(msg, sizeof msg, "lmHeadLoss: %zu totals for %d windows", ntot, windows);
    return throwError(env, msg);
  }
  for (size_t r = 0; r < rows; r++)
    if (targets[r] < 0 || targets[r] >= v) {
      std::snprintf(msg, sizeof msg, "lmHeadLoss: target %d of row %zu is outside the vocabulary (%d)", targets[r], r, v);
      return throwError(env, msg);
    }
  if (currentIsa() == Isa::none) return throwError(env, "headLoss: this CPU has no AVX2+FMA");
  if (!maskforge::headLoss(x, w, packed, targets, rowWeights, rowScale, windows, seq, d, v, dx, totals)) return throwError(env, "headLoss: out of memory");
  return nullptr;
}


bool floatArg(napi_env env, napi_value v, float* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    throwError(env, "maskforge-native: expected a number");
    return false;
  }
  *out = float(d);  // as a wasm f32 parameter receives it
  return true;
}

// A mask layout's array lengths against groups·per (the wasm wrapper's check() messages); false after throwing.
struct Len {
  const char* name;
  size_t have, per;
};
bool checkLayout(napi_env env, const char* op, size_t ns, int groups, int c, int m, std::initializer_list<Len> arrays) {
  char msg[200];
  if (c <= 0 || m <= 0 || ns != size_t(c) * m) {
    std::snprintf(msg, sizeof msg, "%s: candidate matrix has %zu values, expected %d", op, ns, c * m);
    return throwError(env, msg), false;
  }
  for (const Len& a : arrays)
    if (a.have != size_t(groups) * a.per) {
      std::snprintf(msg, sizeof msg, "%s: %s has %zu values, expected %zu", op, a.name, a.have, size_t(groups) * a.per);
      return throwError(env, msg), false;
    }
  return true;
}

bool noIsa(napi_env env, const char* op) {
  if (currentIsa() != Isa::none) return false;
  char msg[120];
  std::snprintf(msg, sizeof msg, "%s: this CPU has no AVX2+FMA", op);
  throwError(env, msg);
  return true;
}

// gumbelNoise(out, seed, scale): out[i] = scale·Gumbel draw i of mulberry32(seed), as gumbel-module.ts
napi_value GumbelNoise(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  float* out;
  size_t n;
  uint32_t seed;
  float scale;
  if (!args(env, info, 3, argv, "gumbelNoise") || !f32Arg(env, argv[0], false, &out, &n)) return nullptr;
  if (napi_get_value_uint32(env, argv[1], &seed) != napi_ok) return throwError(env, "gumbelNoise: expected a seed");
  if (!floatArg(env, argv[2], &scale) || noIsa(env, "gumbelNoise")) return nullptr;
  maskforge::gumbelNoise(out, long(n), seed, scale);
  return nullptr;
}

// sampleProbs(logits, probs, groups, c, seed, invTau, scale): probs = softmax(scale·logits + invTau·gumbel(seed))
napi_value SampleProbs(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  float *logits, *probs;
  size_t nl, np;
  int groups, c;
  uint32_t seed;
  float invTau, scale;
  if (!args(env, info, 7, argv, "sampleProbs") || !f32Arg(env, argv[0], false, &logits, &nl) || !f32Arg(env, argv[1], false, &probs, &np) ||
      !intArg(env, argv[2], &groups) || !intArg(env, argv[3], &c))
    return nullptr;
  if (napi_get_value_uint32(env, argv[4], &seed) != napi_ok) return throwError(env, "sampleProbs: expected a seed");
  if (!floatArg(env, argv[5], &invTau) || !floatArg(env, argv[6], &scale)) return nullptr;
  if (!checkLayout(env, "sampleMasks", size_t(c), groups, c, 1, {{"logits", nl, size_t(c)}, {"probs", np, size_t(c)}}) || noIsa(env, "sampleProbs")) return nullptr;
  maskforge::sampleProbs(logits, probs, groups, c, seed, invTau, scale);
  return nullptr;
}

// softMask(probs, s, masks, groups, c, m, hard): masks = probs·S per group (hard: the argmax's row of S)
napi_value SoftMask(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  float *probs, *s, *masks;
  size_t np, ns, nm;
  int groups, c, m;
  bool hard = false;
  if (!args(env, info, 7, argv, "softMask") || !f32Arg(env, argv[0], false, &probs, &np) || !f32Arg(env, argv[1], false, &s, &ns) ||
      !f32Arg(env, argv[2], false, &masks, &nm) || !intArg(env, argv[3], &groups) || !intArg(env, argv[4], &c) || !intArg(env, argv[5], &m))
    return nullptr;
  napi_get_value_bool(env, argv[6], &hard);
  if (!checkLayout(env, "softMask", ns, groups, c, m, {{"probs", np, size_t(c)}, {"masks", nm, size_t(m)}}) || noIsa(env, "softMask")) return nullptr;
  maskforge::softMask(probs, s, masks, groups, c, m, hard);
  return nullptr;
}

// candidateGrad(dMasks, s, dProbs, groups, c, m): dProbs += dMasks·Sᵀ
napi_value CandidateGrad(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  float *dm, *s, *dp;
  size_t ndm, ns, ndp;
  int groups, c, m;
  if (!args(env, info, 6, argv, "candidateGrad") || !f32Arg(env, argv[0], false, &dm, &ndm) || !f32Arg(env, argv[1], false, &s, &ns) ||
      !f32Arg(env, argv[2], false, &dp, &ndp) || !intArg(env, argv[3], &groups) || !intArg(env, argv[4], &c) || !intArg(env, argv[5], &m))
    return nullptr;
  if (!checkLayout(env, "accumulateCandidateGrad", ns, groups, c, m, {{"dMasks", ndm, size_t(m)}, {"dProbs", ndp, size_t(c)}}) || noIsa(env, "candidateGrad")) return nullptr;
  maskforge::candidateGrad(dm, s, dp, groups, c, m);
  return nullptr;
}

// candidateLogitsGrad(probs, dProbs, w, s, groups, c, m, scale, twoLambda, hard, stats): ∂π in place over dProbs,
// stats (a Float64Array of 3) = Σ‖W⊙M̃‖², Σ_groups max ỹ, Σ ∂π²
napi_value CandidateLogitsGrad(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  float *probs, *dp, *w, *s;
  size_t np, ndp, nw, ns;
  int groups, c, m;
  float scale, twoLambda;
  bool hard = false;
  if (!args(env, info, 11, argv, "candidateLogitsGrad") || !f32Arg(env, argv[0], false, &probs, &np) || !f32Arg(env, argv[1], false, &dp, &ndp) ||
      !f32Arg(env, argv[2], false, &w, &nw) || !f32Arg(env, argv[3], false, &s, &ns) || !intArg(env, argv[4], &groups) || !intArg(env, argv[5], &c) ||
      !intArg(env, argv[6], &m) || !floatArg(env, argv[7], &scale) || !floatArg(env, argv[8], &twoLambda))
    return nullptr;
  napi_get_value_bool(env, argv[9], &hard);
  bool is = false;
  napi_is_typedarray(env, argv[10], &is);
  napi_typedarray_type type;
  size_t nst = 0;
  void* st = nullptr;
  if (is) napi_get_typedarray_info(env, argv[10], &type, &nst, &st, nullptr, nullptr);
  if (!is || type != napi_float64_array || nst != 3) return throwError(env, "candidateLogitsGrad: stats must be a Float64Array of 3");
  if (!checkLayout(env, "candidateLogitsGrad", ns, groups, c, m, {{"probs", np, size_t(c)}, {"dProbs", ndp, size_t(c)}, {"w", nw, size_t(m)}}) || noIsa(env, "candidateLogitsGrad"))
    return nullptr;
  maskforge::candidateLogitsGrad(probs, dp, w, s, groups, c, m, scale, twoLambda, hard, static_cast<double*>(st));
  return nullptr;
}

// argmaxChanges(logits, c, prev): train/logits.ts's argmaxChanges (prev: Uint16Array [groups], updated)
napi_value ArgmaxChanges(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv, "argmaxChanges")) return nullptr;
  float* logits;
  uint16_t* prev;
  size_t nl, np;
  int c;
  if (!f32Arg(env, argv[0], false, &logits, &nl) || !intArg(env, argv[1], &c) || !typedArg(env, argv[2], napi_uint16_array, "a Uint16Array", &prev, &np)) return nullptr;
  if (c <= 0 || nl != np * size_t(c)) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "argmaxChanges: %zu logits are not %zu groups of %d candidates", nl, np, c);
    return throwError(env, msg);
  }
  napi_value v;
  napi_create_double(env, double(maskforge::argmaxChanges(logits, long(np), c, prev)), &v);
  return v;
}

// adamw(logits, mom, vel, grad, coef, beta1, beta2, eps, decay, stepSize, invSqrtBc2): in place from grad·coef
napi_value Adamw(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  float* a[4];
  size_t n[4];
  float f[7];
  if (!args(env, info, 11, argv, "adamw")) return nullptr;
  for (int i = 0; i < 4; i++)
    if (!f32Arg(env, argv[i], false, &a[i], &n[i])) return nullptr;
  for (int i = 0; i < 7; i++)
    if (!floatArg(env, argv[4 + i], &f[i])) return nullptr;
  const char* names[] = {"logits", "m", "v"};
  for (int i = 0; i < 3; i++)
    if (n[i] != n[3]) {
      char msg[120];
      std::snprintf(msg, sizeof msg, "adamw: %s has %zu values, expected %zu", names[i], n[i], n[3]);
      return throwError(env, msg);
    }
  if (noIsa(env, "adamw")) return nullptr;
  maskforge::adamw(a[0], a[1], a[2], a[3], long(n[3]), f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
  return nullptr;
}

// Float32Array arguments argv[0..n) with their expected lengths, checked with the wasm wrapper's messages
// (layers-module.ts: "<op> <name> has N values, expected M"); false after throwing.
bool layerArrays(napi_env env, const napi_value* argv, const char* op, std::initializer_list<std::pair<const char*, size_t>> want, float** out) {
  int i = 0;
  for (const auto& [name, len] : want) {
    size_t have;
    if (!f32Arg(env, argv[i], false, &out[i], &have)) return false;
    if (have != len) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "%s %s has %zu values, expected %zu", op, name, have, len);
      return throwError(env, msg), false;
    }
    i++;
  }
  return !noIsa(env, op);
}

// the length of a Float32Array argument (0 when it is not one: the array checks then report it)
size_t f32Length(napi_env env, napi_value v) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  napi_typedarray_type type;
  size_t n = 0;
  if (is) napi_get_typedarray_info(env, v, &type, &n, nullptr, nullptr, nullptr);
  return is && type == napi_float32_array ? n : 0;
}

// rmsNorm(x, w, y, r, rows, n, eps): y [rows, n] = x·r·w per row, r [rows] = 1/√(mean(x²) + eps)
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int rows, n;
  float eps;
  float* a[4];
  if (!args(env, info, 7, argv, "rmsNorm") || !intArg(env, argv[4], &rows) || !intArg(env, argv[5], &n) || !floatArg(env, argv[6], &eps)) return nullptr;
  const size_t rn = size_t(rows) * n;
  if (!layerArrays(env, argv, "rmsNorm", {{"x", rn}, {"weight", size_t(n)}, {"y", rn}, {"r", size_t(rows)}}, a)) return nullptr;
  maskforge::rmsNormForward(a[0], a[1], a[2], a[3], rows, n, eps);
  return nullptr;
}

// rmsNormBackward(x, w, r, dy, dx, rows, n, accumulate): dx (+)= ∂RMSNorm/∂x · dy
napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  int rows, n;
  bool accumulate = false;
  float* a[5];
  if (!args(env, info, 8, argv, "rmsNormBackward") || !intArg(env, argv[5], &rows) || !intArg(env, argv[6], &n)) return nullptr;
  napi_get_value_bool(env, argv[7], &accumulate);
  const size_t rn = size_t(rows) * n;
  if (!layerArrays(env, argv, "rmsNorm", {{"x", rn}, {"weight", size_t(n)}, {"r", size_t(rows)}, {"dy", rn}, {"dx", rn}}, a)) return nullptr;
  maskforge::rmsNormBackward(a[0], a[1], a[2], a[3], a[4], rows, n, accumulate);
  return nullptr;
}

// swiglu(g, u, h, s): h = silu(g)⊙u, s = σ(g)
napi_value Swiglu(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  float* a[4];
  if (!args(env, info, 4, argv, "swiglu")) return nullptr;
  const size_t n = f32Length(env, argv[0]);
  if (!layerArrays(env, argv, "swiglu", {{"gate", n}, {"up", n}, {"out", n}, {"sigmoid", n}}, a)) return nullptr;
  maskforge::swigluForward(a[0], a[1], a[2], a[3], long(n));
  return nullptr;
}

// swigluBackward(g, u, s, dh, dg, du): dg, du of swiglu from its s
napi_value SwigluBackward(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  float* a[6];
  if (!args(env, info, 6, argv, "swigluBackward")) return nullptr;
  const size_t n = f32Length(env, argv[0]);
  if (!layerArrays(env, argv, "swiglu", {{"gate", n}, {"up", n}, {"sigmoid", n}, {"dh", n}, {"dgate", n}, {"dup", n}}, a)) return nullptr;
  maskforge::swigluBackward(a[0], a[1], a[2], a[3], a[4], a[5], long(n));
  return nullptr;
}

// An attention shape object {batch, seq, heads, kvHeads, headDim} (attention-module.ts's AttentionShape), checked as
// that module's check() does; false after throwing.
bool attentionShapeArg(napi_env env, napi_value v, maskforge::AttentionDims* s) {
  const char* names[] = {"batch", "seq", "heads", "kvHeads", "headDim"};
  double x[5] = {0, 0, 0, 0, 0};
  bool ok = true;
  for (int i = 0; i < 5; i++) {
    napi_value p;
    if (napi_get_named_property(env, v, names[i], &p) != napi_ok || napi_get_value_double(env, p, &x[i]) != napi_ok) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
      ok = false;
    } else if (!(x[i] > 0 && x[i] <= 1e9 && x[i] == double(long(x[i]))))
      ok = false;
  }
  char msg[300];
  if (!ok) {
    std::snprintf(msg, sizeof msg, "attention: bad shape {\"batch\":%g,\"seq\":%g,\"heads\":%g,\"kvHeads\":%g,\"headDim\":%g}", x[0], x[1], x[2], x[3], x[4]);
    throwError(env, msg);
    return false;
  }
  *s = {int(x[0]), int(x[1]), int(x[2]), int(x[3]), int(x[4])};
  if (s->heads % s->kvHeads != 0) {
    std::snprintf(msg, sizeof msg, "attention: %d heads are not a multiple of %d kv heads", s->heads, s->kvHeads);
    throwError(env, msg);
    return false;
  }
  if (s->hd % 2 != 0) {
    std::snprintf(msg, sizeof msg, "attention: RoPE needs an even head dimension, got %d", s->hd);
    throwError(env, msg);
    return false;
  }
  return true;
}

struct NamedArray {
  const char* name;
  float* data;
  size_t length;
  char of;  // 'q' (q, o, dO…), 'k' (k, v…), 'l' (lse), 'r' (a RoPE table)
};

// Each array's length against the shape, with attention-module.ts's message; false after throwing.
bool attentionLengths(napi_env env, const maskforge::AttentionDims& s, const NamedArray* arrays, int count) {
  const size_t rows = size_t(s.batch) * s.seq;
  for (int i = 0; i < count; i++) {
    const NamedArray& a = arrays[i];
    const size_t want = a.of == 'q' ? rows * s.heads * s.hd : a.of == 'k' ? rows * s.kvHeads * s.hd : a.of == 'l' ? size_t(s.batch) * s.heads * s.seq : size_t(s.seq) * s.hd;
    if (a.length != want) {
      char msg[200];
      std::snprintf(msg, sizeof msg, "attention: %s has %zu values, expected %zu", a.name, a.length, want);
      throwError(env, msg);
      return false;
    }
  }
  return true;
}

// The RoPE tables {cosQ, sinQ, cosK, sinK} (attention-module.ts's RopeValues) into arrays[0..4); false after throwing.
bool ropeArg(napi_env env, napi_value v, NamedArray* arrays) {
  const char* names[] = {"cosQ", "sinQ", "cosK", "sinK"};
  for (int i = 0; i < 4; i++) {
    napi_value p;
    if (napi_get_named_property(env, v, names[i], &p) != napi_ok) {
      throwError(env, "attention: expected RoPE tables {cosQ, sinQ, cosK, sinK}");
      return false;
    }
    arrays[i] = {names[i], nullptr, 0, 'r'};
    if (!f32Arg(env, p, false, &arrays[i].data, &arrays[i].length)) return false;
  }
  return true;
}

// attentionForward(shape, q, k, v, rope, o, lse): attention-module.ts's attentionForward
napi_value AttentionForward(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!args(env, info, 7, argv, "attentionForward")) return nullptr;
  maskforge::AttentionDims s;
  if (!attentionShapeArg(env, argv[0], &s)) return nullptr;
  NamedArray a[] = {{"q", nullptr, 0, 'q'}, {"k", nullptr, 0, 'k'}, {"v", nullptr, 0, 'k'}, {"o", nullptr, 0, 'q'}, {"lse", nullptr, 0, 'l'}, {}, {}, {}, {}};
  const int at[] = {1, 2, 3, 5, 6};
  for (int i = 0; i < 5; i++)
    if (!f32Arg(env, argv[at[i]], false, &a[i].data, &a[i].length)) return nullptr;
  if (!ropeArg(env, argv[4], a + 5) || !attentionLengths(env, s, a, 9)) return nullptr;
  if (currentIsa() == Isa::none) return throwError(env, "attentionForward: this CPU has no AVX2+FMA");
  const maskforge::AttentionRope rope{a[5].data, a[6].data, a[7].data, a[8].data};
  if (!maskforge::attentionForward(s, a[0].data, a[1].data, a[2].data, rope, a[3].data, a[4].data)) return throwError(env, "attentionForward: out of memory");
  return nullptr;
}

// attentionBackward(shape, q, k, v, o, lse, dO, rope, dq, dk, dv): attention-module.ts's attentionBackward
napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (!args(env, info, 11, argv, "attentionBackward")) return nullptr;
  maskforge::AttentionDims s;
  if (!attentionShapeArg(env, argv[0], &s)) return nullptr;
  NamedArray a[] = {{"q", nullptr, 0, 'q'}, {"k", nullptr, 0, 'k'}, {"v", nullptr, 0, 'k'}, {"o", nullptr, 0, 'q'}, {"lse", nullptr, 0, 'l'}, {"dO", nullptr, 0, 'q'}, {"dq", nullptr, 0, 'q'},
                    {"dk", nullptr, 0, 'k'}, {"dv", nullptr, 0, 'k'}, {}, {}, {}, {}};
  const int at[] = {1, 2, 3, 4, 5, 6, 8, 9, 10};
  for (int i = 0; i < 9; i++)
    if (!f32Arg(env, argv[at[i]], false, &a[i].data, &a[i].length)) return nullptr;
  if (!ropeArg(env, argv[7], a + 9) || !attentionLengths(env, s, a, 13)) return nullptr;
  if (currentIsa() == Isa::none) return throwError(env, "attentionBackward: this CPU has no AVX2+FMA");
  const maskforge::AttentionRope rope{a[9].data, a[10].data, a[11].data, a[12].data};
  if (!maskforge::attentionBackward(s, a[0].data, a[1].data, a[2].data, a[3].data, a[4].data, a[5].data, rope, a[6].data, a[7].data, a[8].data))
    return throwError(env, "attentionBackward: out of memory");
  return nullptr;
}

const char* isaName(Isa i) { return i == Isa::avx512 ? "avx512" : i == Isa::avx2 ? "avx2" : "none"; }

napi_value GetIsa(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_string_utf8(env, isaName(currentIsa()), NAPI_AUTO_LENGTH, &v);
  return v;
}

// setIsa("avx2" | "avx512"): a tile the CPU supports (for benchmarks and tests); returns the one in use
napi_value SetIsa(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char name[16] = {0};
  size_t len = 0;
  if (argc == 1) napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len);
  const Isa want = std::strcmp(name, "avx512") == 0 ? Isa::avx512 : std::strcmp(name, "avx2") == 0 ? Isa::avx2 : Isa::none;
  useIsa(want);
  return GetIsa(env, info);
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"linear", nullptr, Linear, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packWeight", nullptr, PackWeight, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linearPacked", nullptr, LinearPacked, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maskedWeightGradRows", nullptr, MaskedWeightGradRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packedFloats", nullptr, PackedFloats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packTransposed", nullptr, PackTransposed, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"headLoss", nullptr, HeadLoss, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gumbelNoise", nullptr, GumbelNoise, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sampleProbs", nullptr, SampleProbs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softMask", nullptr, SoftMask, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"candidateGrad", nullptr, CandidateGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"candidateLogitsGrad", nullptr, CandidateLogitsGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"argmaxChanges", nullptr, ArgmaxChanges, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, Adamw, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNormBackward", nullptr, RmsNormBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swiglu", nullptr, Swiglu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swigluBackward", nullptr, SwigluBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionForward", nullptr, AttentionForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionBackward", nullptr, AttentionBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isa", nullptr, GetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setIsa", nullptr, SetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
