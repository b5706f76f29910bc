// Element-wise activations of the feed-forward layers and attention, vectorized for the kernels'
// instruction set.
#pragma once

#include <cstdint>

namespace dseek {

// g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]: SwiGLU's gating, in place.
// Within a few ulp of the formula evaluated with std::exp.
void silu_mul(float* g, const float* u, int64_t n);

// One block of keys of attention's softmax computed online (flash attention): with m the larger
// of `max` and every scale · s[i], s[i] = exp(scale · s[i] - m) for i < n, max becomes m, and
// the return is Σ s[i]. A row's running sum and output, kept relative to the old max, scale
// by exp(old max - m) before this block adds to them. Each term within a few ulp of the
// formula in double.
float softmax_block(float* s, int64_t n, float scale, float& max);

// Σ x[i]² in double (RMSNorm's mean square): in 16 lanes on AVX-512, where one chain of double
// adds took 1% of pp512 on V2-Lite; within 1e-15 relative of the sum in order.
double sum_of_squares(const float* x, int64_t n);

}  // namespace dseek
