// The N-API face of the native GEMM (gemm.h) and attention (attention.h): the functions src/native/loader.ts types as
// NativeAddon, checking their arguments with the wasm kernels' messages (src/maskllm/kernels/matmul-module.ts,
// attention-module.ts) before any work.
#include <node_api.h>

#include <cstdio>
#include <cstring>

#include "attention.h"
#include "gemm.h"

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
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 7) return throwError(env, "attentionForward: 7 arguments");
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
  size_t argc = 11;
  napi_value argv[11];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 11) return throwError(env, "attentionBackward: 11 arguments");
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
      {"maskedWeightGradRows", nullptr, MaskedWeightGradRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionForward", nullptr, AttentionForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionBackward", nullptr, AttentionBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isa", nullptr, GetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setIsa", nullptr, SetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
