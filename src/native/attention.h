// The native causal attention (attention.cc) as the N-API functions (addon.cc) call it.
#pragma once

namespace maskforge {

// q [batch·seq, heads·hd], k and v [batch·seq, kvHeads·hd] (before RoPE); o as q; lse [batch, heads, seq]
struct AttentionDims {
  int batch, seq, heads, kvHeads, hd;
};

// RoPE tables [seq, hd]; the queries' carry the 1/√hd score scale
struct AttentionRope {
  const float *cosQ, *sinQ, *cosK, *sinK;
};

/** o = causal softmax(rope(q)·rope(k)ᵀ)·v per head (GQA), lse = each row's log Σ exp(score); false: no scratch */
bool attentionForward(const AttentionDims& s, const float* q, const float* k, const float* v, const AttentionRope& rope, float* o, float* lse);

/** dq, dk, dv (before RoPE) of attentionForward given its o, lse and dO; false: no scratch */
bool attentionBackward(const AttentionDims& s, const float* q, const float* k, const float* v, const float* o, const float* lse, const float* dO, const AttentionRope& rope, float* dq, float* dk,
                       float* dv);

}  // namespace maskforge
