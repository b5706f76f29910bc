// Scalar conversions of stored element formats to F32.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace dseek {

inline float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

// Round to nearest even, as PyTorch does.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN stays NaN
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);

// FP8 E4M3 ("e4m3fn": no infinities, 0x7f/0xff are NaN) to F32.
float e4m3_to_f32(uint8_t bits);
// 256-entry table of e4m3_to_f32, for kernels that look values up.
const float* e4m3_table();

}  // namespace dseek
