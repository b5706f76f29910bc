// The stored level of every value of a block, unpacked into value order. Levels are unsigned
// as stored; the value subtracts the format's offset (Q4_0: d * (q - 8), Q3_K: q - 4,
// Q6_K: q - 32) or a min. Used by dequantization and by the scalar reference kernels.
#pragma once

#include <cstdint>

#include "quant/blocks.h"

namespace dseek {

void unpack_levels(const BlockQ4_0& b, uint8_t q[32]);
void unpack_levels(const BlockQ4_1& b, uint8_t q[32]);
void unpack_levels(const BlockQ5_0& b, uint8_t q[32]);
void unpack_levels(const BlockQ5_1& b, uint8_t q[32]);
void unpack_levels(const BlockIQ4_NL& b, uint8_t q[32]);  // indices into kIq4nlValues
void unpack_levels(const BlockQ2_K& b, uint8_t q[256]);  // 0..3
void unpack_levels(const BlockQ3_K& b, uint8_t q[256]);  // 0..7
void unpack_levels(const BlockQ4_K& b, uint8_t q[256]);  // 0..15
void unpack_levels(const BlockQ5_K& b, uint8_t q[256]);  // 0..31
void unpack_levels(const BlockQ6_K& b, uint8_t q[256]);  // 0..63

}  // namespace dseek
