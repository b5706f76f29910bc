// Internal to the kernels: the per-instruction-set implementations behind matmul.h.
#pragma once

#include <cstdint>

#include "kernels/weight.h"

namespace dseek {

// Stored element types, so that kernels can overload on what a weight pointer holds.
struct F16 {
  uint16_t bits;
};
struct Bf16 {
  uint16_t bits;
};
struct E4m3 {
  uint8_t bits;
};

// SIMD kernels load FP8 E4M3 as F16 bit patterns: exact for every finite code, subnormals
// included, and worth value / kE4m3Unit; the unit is folded into the block scale.
// The NaN codes (0x7f, 0xff) load as ±480 there, not NaN.
inline constexpr float kE4m3Unit = 256.0f;

// Same contracts as in matmul.h; the dispatcher has checked the weight.
namespace scalar {
void matmul(const float* x, int64_t m, const Weight& w, float* y);
void matmul_rows(const float* x, int64_t m, const Weight& w, float* y);
void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out);
}  // namespace scalar

namespace avx2 {
void matmul(const float* x, int64_t m, const Weight& w, float* y);
void matmul_rows(const float* x, int64_t m, const Weight& w, float* y);
void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out);
}  // namespace avx2

namespace avx512 {
void matmul(const float* x, int64_t m, const Weight& w, float* y);
void matmul_rows(const float* x, int64_t m, const Weight& w, float* y);
void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out);
// matmul with the BF16 activations of set_bf16_activations(); needs avx512bf16.
void matmul_bf16(const float* x, int64_t m, const Weight& w, float* y);
void matmul_rows_bf16(const float* x, int64_t m, const Weight& w, float* y);
void round_to_bf16(const float* x, int64_t n, uint16_t* out);
}  // namespace avx512

}  // namespace dseek
