// The hot interface: products of F32 activations with a weight in any stored format.
// Each format is converted in registers; implementations are chosen at run time by CPU
// features and run on the global thread pool.
#pragma once

#include <cstdint>

#include "kernels/weight.h"

namespace dseek {

// y[m, N] = x[m, K] · Wᵀ, W = [N, K]. x and y are dense row-major.
void matmul(const float* x, int64_t m, const Weight& w, float* y);

// y[m, K] = x[m, N] · W: each output row is a weighted sum of W's rows.
void matmul_rows(const float* x, int64_t m, const Weight& w, float* y);

// Rows [begin, begin + count) of W as F32, dense [count, K].
void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out);

}  // namespace dseek
