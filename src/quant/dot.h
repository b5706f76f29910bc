// Internal to quant/: dot products of quantized weight rows with int8-quantized activations,
// one implementation per instruction set behind one function type.
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/dtype.h"
#include "quant/blocks.h"

namespace dseek::quant {

// Activations of the 32-value formats: x = d * qs[i]; sum = Σ qs, for the formats whose
// levels are offset (Q4_0, Q5_0) or carry a min (Q4_1, Q5_1).
struct BlockQ8A {
  float d;
  int32_t sum;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8A) == 40);

// The activation format a weight format's products use: Q8_K for the K-quants, else BlockQ8A.
bool uses_q8k(DType weight);
size_t act_row_bytes(DType weight, int64_t k);
// Quantizes one activation row of k values (a whole number of the format's blocks) for
// products with `weight`: d = max |x| / 127 per block, q = x / d rounded to nearest even.
// Every instruction set gives the same bytes.
void quantize_act_row(DType weight, const float* x, void* out, int64_t k);
using ActFn = void (*)(DType weight, const float* x, void* out, int64_t k);

// Activation rows one kernel call shares a decoded weight block with.
inline constexpr int kMaxRows = 4;

// y[r * y_stride] = Σ_k W[k] · X_r[k] for the nx <= kMaxRows activation rows X_r at
// x + r * x_stride bytes; W is one weight row of `nb` blocks.
using DotFn = void (*)(int64_t nb, const void* w, const void* x, size_t x_stride, int nx, float* y, int64_t y_stride);

enum class DotIsa { Scalar, Avx2, Avx512Bw, Avx512Vnni };
const char* dot_isa_name(DotIsa isa);
bool dot_isa_supported(DotIsa isa);
DotIsa active_dot_isa();  // from kernels/cpu.h's active set, with VNNI when the CPU has it

// The kernel for a weight format on an instruction set; types without a SIMD kernel there
// get the scalar one.
DotFn dot_kernel(DType weight, DotIsa isa);
ActFn act_quantizer(DotIsa isa);

// Per instruction set; the SIMD dot_kernels return nullptr for types they lack.
namespace scalar {
DotFn dot_kernel(DType weight);
void quantize_act_row(DType weight, const float* x, void* out, int64_t k);
}  // namespace scalar
namespace avx2 {
DotFn dot_kernel(DType weight);
void quantize_act_row(DType weight, const float* x, void* out, int64_t k);
}  // namespace avx2
namespace avx512bw {
DotFn dot_kernel(DType weight);
void quantize_act_row(DType weight, const float* x, void* out, int64_t k);
}  // namespace avx512bw
namespace avx512vnni {
DotFn dot_kernel(DType weight);
void quantize_act_row(DType weight, const float* x, void* out, int64_t k);

// Prefill: y[i * n_rows + n] = Σ_k W_n[k] · X_i[k] for m activation rows quantized by
// quantize_act_row (act_stride bytes apart) and n_rows weight rows (w_row_bytes apart), on the
// global thread pool; weight rows packed into panels once per call (gemm_vnni.inc).
using GemmFn = void (*)(int64_t m, const void* act, size_t act_stride, const void* w, size_t w_row_bytes, int64_t n_rows,
                        int64_t k, float* y);
struct Gemm {
  GemmFn run = nullptr;  // nullptr for types without one
  int64_t min_rows = 0;  // from this many activation rows on, packing pays (measured on Zen 4)
};
Gemm gemm_kernel(DType weight);
}  // namespace avx512vnni

}  // namespace dseek::quant
