// The N-API face of the native GEMM (gemm.h): the functions src/native/loader.ts types as NativeAddon, checking
// their arguments with the wasm kernels' messages (src/maskllm/kernels/matmul-module.ts) before any work.
#include <node_api.h>

#include <cstdio>
#include <cstring>

#include "gemm.h"
#include "head-loss.h"

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

bool intArg(napi_env env, napi_value v, int* out) {
  if (napi_get_value_int32(env, v, out) != napi_ok || *out < 0) {
    throwError(env, "maskforge-native: expected a non-negative integer");
    return false;
  }
  return true;
}

// linear(forward, a, w, mask, probs, s, m, tokens, inDim, outDim, out, accumulate)
//   forward: out [tokens, out] (+)= a [tokens, in]·(w ⊙ M)ᵀ; else out [tokens, in] (+)= a [tokens, out]·(w ⊙ M);
//   M: none, mask [out, in], or soft from probs [out·in/m, c] and s [c, m]
napi_value Linear(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 12) return throwError(env, "linear: 12 arguments");
  bool forward = false, accumulate = false;
  napi_get_value_bool(env, argv[0], &forward);
  napi_get_value_bool(env, argv[11], &accumulate);
  float *a, *w, *mask, *probs, *s, *out;
  size_t na, nw, nmask, nprobs, ns, nout;
  int m, tokens, inDim, outDim;
  if (!f32Arg(env, argv[1], false, &a, &na) || !f32Arg(env, argv[2], false, &w, &nw) || !f32Arg(env, argv[3], true, &mask, &nmask) ||
      !f32Arg(env, argv[4], true, &probs, &nprobs) || !f32Arg(env, argv[5], true, &s, &ns) || !intArg(env, argv[6], &m) || !intArg(env, argv[7], &tokens) ||
      !intArg(env, argv[8], &inDim) || !intArg(env, argv[9], &outDim) || !f32Arg(env, argv[10], false, &out, &nout))
    return nullptr;
  const size_t kk = forward ? inDim : outDim, nn = forward ? outDim : inDim;
  // the wasm kernels' names and messages (matmul-module.ts), so a bad op fails the same way on either
  const char* op = probs ? (forward ? "softLinearForward" : "softLinearInputGrad") : forward ? "linearForward" : "linearInputGrad";
  const struct { const char* name; size_t have, want; } lengths[] = {
      {forward ? "x" : "dy", na, size_t(tokens) * kk}, {"w", nw, size_t(inDim) * outDim}, {forward ? "y" : "dx", nout, size_t(tokens) * nn}, {"mask", mask ? nmask : nw, nw}};
  for (const auto& l : lengths)
    if (l.have != l.want) {
      char msg[200];
      std::snprintf(msg, sizeof msg, "%s: %s has %zu values, expected %zu", op, l.name, l.have, l.want);
      return throwError(env, msg);
    }
  int c = 0;
  if (probs) {
    if (!s || m <= 0 || ns % m != 0 || inDim % m != 0 || ns == 0 || nprobs != nw / m * (ns / m)) {
      char msg[200];
      std::snprintf(msg, sizeof msg, "%s: a soft mask of %zu candidate probabilities and S of %zu values does not fit group size %d of input %d", op, nprobs, ns, m, inDim);
      return throwError(env, msg);
    }
    c = int(ns / m);
  }
  if (currentIsa() == Isa::none) return throwError(env, "linear: this CPU has no AVX2+FMA");
  const BSource src{w, forward, mask, probs, s, c, m, int(kk), int(nn)};
  if (!product(src, a, long(kk), 1, out, nullptr, accumulate, tokens)) return throwError(env, "linear: out of memory");
  return nullptr;
}

// maskedWeightGradRows(x, dy, w, tokens, inDim, outDim, r0, r1, g): g [r1−r0, in] = (dy[:, r0:r1]ᵀ·x) ⊙ w[r0:r1]
napi_value MaskedWeightGradRows(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 9) return throwError(env, "maskedWeightGradRows: 9 arguments");
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
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int k, n;
  if (argc != 2 || !intArg(env, argv[0], &k) || !intArg(env, argv[1], &n)) return argc != 2 ? throwError(env, "packedFloats: 2 arguments") : nullptr;
  napi_value v;
  napi_create_double(env, double(maskforge::packedFloats(k, n)), &v);
  return v;
}

// packTransposed(w, k, n, out): out = panels of B = Wᵀ for W [n, k] (a frozen lm_head, packed once for a run)
napi_value PackTransposed(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 4) return throwError(env, "packTransposed: 4 arguments");
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
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 12) return throwError(env, "headLoss: 12 arguments");
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
      {"maskedWeightGradRows", nullptr, MaskedWeightGradRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packedFloats", nullptr, PackedFloats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packTransposed", nullptr, PackTransposed, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"headLoss", nullptr, HeadLoss, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isa", nullptr, GetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setIsa", nullptr, SetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
