// The host trainer's per-step mask math in native code (mask-step.cc), as the N-API functions (addon.cc) call it:
// the same math, in the same order, as the wasm kernels (src/maskllm/kernels/assembly/{mask-step,gumbel}.ts), over
// the caller's arrays. Groups are [G, C] candidate probabilities/logits and [G, M] masks/weights; S is [C, M].
#pragma once

#include <cstdint>

namespace maskforge {

/** out[i] = scale·(−log(−log uᵢ)) for the uniforms of mulberry32(seed), as gumbel.ts draws them (bit-identical). */
void gumbelNoise(float* out, long n, uint32_t seed, float scale);

/**
 * probs [G, C] = softmax(scale·logits + invTau·gumbel(seed)) per group: gumbelNoise and mask-step.ts sample() in
 * one pass (no noise buffer), bit-identical to them.
 */
void sampleProbs(const float* logits, float* probs, long groups, int c, uint32_t seed, float invTau, float scale);

/** masks [G, M] = probs·S per group, or (hard) the row of S of the argmax candidate (first on ties). */
void softMask(const float* probs, const float* s, float* masks, long groups, int c, int m, bool hard);

/** dp [G, C] += dm [G, M]·Sᵀ (only S's non-zeros are read), as candidateGrad(). */
void candidateGrad(const float* dm, const float* s, float* dp, long groups, int c, int m);

/**
 * softMask then candidateLogitsGrad() per group, with M̃ kept in registers: dp becomes ∂π in place. stats =
 * {Σ‖W⊙M̃‖², Σ_groups max ỹ, Σ ∂π²} of these groups (f64, summed in the wasm kernel's order).
 */
void candidateLogitsGrad(const float* probs, float* dp, const float* w, const float* s, long groups, int c, int m, float scale, float twoLambda, bool hard, double stats[3]);

/**
 * How many of the groups' argmax candidates (first on ties) differ from prev, updating prev: train/logits.ts's
 * argmaxChanges (the progress reports' maskChange), one pass over logits [groups, c].
 */
long argmaxChanges(const float* logits, long groups, int c, uint16_t* prev);

/** AdamW in place over n values from grad·coef, as adamw() (the same update order, so bit-identical). */
void adamw(float* logits, float* mom, float* vel, const float* grad, long n, float coef, float b1, float b2, float eps, float decay, float stepSize, float invSqrtBc2);

}  // namespace maskforge
