// The lm_head loss op in native code (head-loss.cc), as addon.cc calls it.
#pragma once

namespace maskforge {

/** rows of a window whose logits one call holds at a time (for a vocabulary of v) */
int headLossRows(int v, int seq);

/**
 * Per window of seq rows: logits = x·Wᵀ (Wᵀ from packTransposed), totals[i] = Σ weight·nll, and
 * dx = (scale·(softmax − onehot))·W. False when scratch cannot be allocated.
 */
bool headLoss(const float* x, const float* w, const float* packedWt, const int* targets, const float* rowWeights, const float* rowScale, int windows, int seq, int d, int v, float* dx, double* totals);

}  // namespace maskforge
