// Element-wise activations of the feed-forward layers and attention, vectorized for the kernels'
// instruction set.
#pragma once

#include <cstdint>

namespace dseek {

// g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]: SwiGLU's gating, in place.
// Within a few ulp of the formula evaluated with std::exp.
void silu_mul(float* g, const float* u, int64_t n);

// s[i] = exp(scale · s[i] - m) / Σ_j exp(scale · s[j] - m), m the largest scale · s[j], for
// i < n > 0: attention's probabilities, in place. Within a few ulp of the formula in double.
void softmax(float* s, int64_t n, float scale);

}  // namespace dseek
