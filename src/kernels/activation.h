// Element-wise activations of the feed-forward layers, vectorized for the kernels' instruction set.
#pragma once

#include <cstdint>

namespace dseek {

// g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]: SwiGLU's gating, in place.
// Within a few ulp of the formula evaluated with std::exp.
void silu_mul(float* g, const float* u, int64_t n);

}  // namespace dseek
