// Reference quantization and dequantization of rows in GGML's block formats (quant/blocks.h).
#pragma once

#include <cstdint>

#include "io/dtype.h"

namespace dseek {

// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K ... Q6_K and Q8_K: the block formats of quant/blocks.h,
// and the interleaved Q4_K_R16, Q5_0_R16 and Q8_0_R16, which quantize_row and dequantize_row do
// not take (quant/repack.h).
bool is_quantized(DType dtype);

// x[n] -> n / block_elems blocks at dst. n must be a whole number of blocks. Sub-block scales
// are fitted by a weighted least-squares search, as llama.cpp's reference quantizers do.
void quantize_row(DType dtype, const float* x, void* dst, int64_t n);

// n / block_elems blocks at src -> y[n].
void dequantize_row(DType dtype, const void* src, float* y, int64_t n);

}  // namespace dseek
