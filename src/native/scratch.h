// A thread's scratch buffer for the native kernels: 64-byte aligned, grown to the largest call and kept, so a
// training step allocates nothing.
#pragma once

#include <cstddef>
#include <cstdlib>

namespace maskforge {

struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t floats) {
    if (floats > n) {
      std::free(p);
      p = static_cast<float*>(std::aligned_alloc(64, ((floats * 4 + 63) / 64) * 64));
      n = p ? floats : 0;
    }
    return p;
  }
  ~Scratch() { std::free(p); }
};

}  // namespace maskforge
