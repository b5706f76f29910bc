// Products of F32 activations with weights in GGML block formats (quant/blocks.h).
// Activations are quantized to int8 on the fly, per 32 values for the 32-value formats and
// per 256 (Q8_K, with 16-value sums) for the K-quants, and the dot products run on integers:
// results differ from the F32 product of the dequantized weights by that rounding: relative
// RMS error about 0.5% (32-value blocks) to 0.8% (Q8_K) on Gaussian data (see
// tests/quant/quant_matmul_test.cpp). Many activation rows on AVX-512 VNNI take a register-tiled
// kernel over packed weight panels (quant/gemm_vnni.inc); the others, dot kernels per weight row.
// The panels of Q4_K_R16 also round the weights, to int8 with a step per 256 values: about as
// much error again (tests/quant/repack_test.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/weight.h"
#include "quant/formats.h"

namespace dseek {

// y[m, N] = x[m, K] · Wᵀ, W = [N, K] in a block format (is_quantized, Q8_K excepted).
void quant_matmul(const float* x, int64_t m, const Weight& w, float* y);

// Rows of activations quantized once for a weight format and width, rows x row_bytes bytes.
// Left uninitialized until quantized: prefill prepares megabytes of them per product.
struct PreparedRows {
  std::unique_ptr<unsigned char[]> bytes;
  int64_t rows = 0;
  size_t row_bytes = 0;
};

// quant_matmul in two steps, for callers that multiply the same rows by several weights of one
// format and width: x quantized once for W's format, then rows [first, first + m) of x times W,
// y[m, N], from those activations, as quant_matmul computes it.
PreparedRows quant_prepare_rows(const float* x, int64_t m, const Weight& w);
void quant_matmul_prepared(const PreparedRows& act, int64_t first, int64_t m, const Weight& w, float* y);
// Rows `rows` of `from`, in that order, as prepared there: a MoE expert's tokens, out of a
// layer's rows quantized once for every expert.
PreparedRows quant_gather_rows(const PreparedRows& from, std::span<const int64_t> rows);
// For callers that split a product with one row over threads themselves (decode's many small
// products): any range of W's rows, whole groups of interleaved rows, on the calling thread:
// y[r0, r1) = rows [r0, r1) of W · x, x one row prepared as above.
void quant_matvec_rows(const PreparedRows& act, const Weight& w, int64_t r0, int64_t r1, float* y);

// y[m, K] = x[m, N] · W, through dequantized rows (a fallback: no int8 path).
void quant_matmul_rows(const float* x, int64_t m, const Weight& w, float* y);

// Rows [begin, begin + count) of W as F32, dense [count, K].
void quant_dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out);

}  // namespace dseek
