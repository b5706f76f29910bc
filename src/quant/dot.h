// Internal to quant/: dot products of quantized weight rows with int8-quantized activations,
// one implementation per instruction set behind one function type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "io/dtype.h"
#include "quant/blocks.h"

namespace dseek::quant {

// Activations of the 32-value formats, one row of k values, planar so that SIMD kernels load
// 64 levels, or 8 blocks' scalars, with one instruction: qs[k] (x = d * qs[i]), then per
// 32-value block d (float) and sum = Σ qs (int32, for the formats whose levels are offset or
// carry a min), both arrays zero-padded to a multiple of 8 blocks.
template <bool kConst>
struct Q8ARowOf {
  template <typename T>
  using Ptr = std::conditional_t<kConst, const T*, T*>;
  Ptr<int8_t> qs;
  Ptr<float> d;
  Ptr<int32_t> sum;

  static constexpr int64_t padded_blocks(int64_t k) { return (k / 32 + 7) / 8 * 8; }
  static constexpr size_t bytes(int64_t k) { return static_cast<size_t>(k + 8 * padded_blocks(k)); }
  Q8ARowOf(std::conditional_t<kConst, const void*, void*> row, int64_t k)
      : qs(static_cast<Ptr<int8_t>>(row)),
        d(reinterpret_cast<Ptr<float>>(qs + k)),
        sum(reinterpret_cast<Ptr<int32_t>>(d + padded_blocks(k))) {}
};
using Q8ARow = Q8ARowOf<true>;
using Q8ARowOut = Q8ARowOf<false>;
// Zeroes the padding blocks' d and sum, which kernels read 8 blocks at a time.
inline void pad_q8a_row(const Q8ARowOut& row, int64_t k) {
  for (int64_t b = k / 32; b < Q8ARow::padded_blocks(k); ++b) row.d[b] = 0, row.sum[b] = 0;
}

// The format of a block struct, for kernels templated on it.
template <typename Block>
inline constexpr DType kBlockType = DType::F32;  // not a block
template <> inline constexpr DType kBlockType<BlockQ8_0> = DType::Q8_0;
template <> inline constexpr DType kBlockType<BlockQ4_0> = DType::Q4_0;
template <> inline constexpr DType kBlockType<BlockQ4_1> = DType::Q4_1;
template <> inline constexpr DType kBlockType<BlockQ5_0> = DType::Q5_0;
template <> inline constexpr DType kBlockType<BlockQ5_1> = DType::Q5_1;
template <> inline constexpr DType kBlockType<BlockIQ4_NL> = DType::IQ4_NL;
template <> inline constexpr DType kBlockType<BlockQ2_K> = DType::Q2_K;
template <> inline constexpr DType kBlockType<BlockQ3_K> = DType::Q3_K;
template <> inline constexpr DType kBlockType<BlockQ4_K> = DType::Q4_K;
template <> inline constexpr DType kBlockType<BlockQ5_K> = DType::Q5_K;
template <> inline constexpr DType kBlockType<BlockQ6_K> = DType::Q6_K;
template <> inline constexpr DType kBlockType<BlockQ4_KR16> = DType::Q4_K_R16;
template <> inline constexpr DType kBlockType<BlockQ5_0R16> = DType::Q5_0_R16;
template <> inline constexpr DType kBlockType<BlockQ8_0R16> = DType::Q8_0_R16;
// Blocks that hold 16 rows each (quant/repack.h).
template <typename Block>
inline constexpr bool kInterleaved =
    std::is_same_v<Block, BlockQ4_KR16> || std::is_same_v<Block, BlockQ5_0R16> || std::is_same_v<Block, BlockQ8_0R16>;

// The activation format a weight format's products use: Q8_K for the K-quants, else Q8ARow.
bool uses_q8k(DType weight);
// Where a Q8_K activation block keeps its 32-value sub-block `sub` (qs[32 * slot ..]) for
// products with `weight`: Q4_K and Q5_K take them in the order 0, 2, 1, 3, 4, 6, 5, 7, so that
// the low and the high nibbles of 64 bytes of a weight block's qs (sub-blocks 4h, 4h + 2 and
// 4h + 1, 4h + 3) each meet 64 consecutive activations. bsums stay in value order. Q4_K_R16
// keeps Q4_K's order: one activation row serves both layouts.
constexpr int q8k_slot(DType weight, int sub) {
  const bool permuted = weight == DType::Q4_K || weight == DType::Q5_K || weight == DType::Q4_K_R16;
  return permuted ? (sub & 4) | (sub & 1) << 1 | (sub >> 1 & 1) : sub;
}
size_t act_row_bytes(DType weight, int64_t k);
// Quantizes one activation row of k values (a whole number of the format's blocks) for
// products with `weight`: d = max |x| / 127 per block, q = x / d rounded to nearest even.
// Every instruction set gives the same bytes.
void quantize_act_row(DType weight, const float* x, void* out, int64_t k);
using ActFn = void (*)(DType weight, const float* x, void* out, int64_t k);

// Activation rows one kernel call shares a decoded weight block with.
inline constexpr int kMaxRows = 4;

// y[r * y_stride] = Σ_k W[k] · X_r[k] for the nx <= kMaxRows activation rows X_r at
// x + r * x_stride bytes; W is one weight row of `nb` blocks, X_r rows of as many values. For
// interleaved formats W is a group of dtype_row_group rows l, to y[r * y_stride + l].
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
