#include "quant/levels.h"

namespace dseek {
namespace {

// 32-value formats: value i < 16 in the low nibble of qs[i], value i + 16 in its high nibble.
void nibbles(const uint8_t* qs, uint8_t* q) {
  for (int i = 0; i < 16; ++i) {
    q[i] = qs[i] & 15;
    q[i + 16] = qs[i] >> 4;
  }
}
// Q5_0/Q5_1: bit i of the little-endian u32 qh is the fifth bit of value i.
void fifth_bits(const uint8_t* qh, uint8_t* q) {
  for (int i = 0; i < 32; ++i) q[i] |= static_cast<uint8_t>(((qh[i / 8] >> (i % 8)) & 1) << 4);
}

// Q2_K/Q3_K: value 128h + 32j + l in bits 2j..2j+1 of qs[32h + l].
void crumbs(const uint8_t* qs, uint8_t* q) {
  for (int i = 0; i < 256; ++i) q[i] = (qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}
// Q4_K/Q5_K: value 64c + l in the low nibble of qs[32c + l], value 64c + 32 + l in its high nibble.
void k_nibbles(const uint8_t* qs, uint8_t* q) {
  for (int i = 0; i < 256; ++i) q[i] = (qs[32 * (i / 64) + i % 32] >> (4 * ((i % 64) / 32))) & 15;
}
// Q3_K hmask / Q5_K qh: bit j of byte l is the high bit of value 32j + l.
void high_bits(const uint8_t* mask, int shift, uint8_t* q) {
  for (int i = 0; i < 256; ++i) q[i] |= static_cast<uint8_t>(((mask[i % 32] >> (i / 32)) & 1) << shift);
}

}  // namespace

void unpack_levels(const BlockQ4_0& b, uint8_t q[32]) { nibbles(b.qs, q); }
void unpack_levels(const BlockQ4_1& b, uint8_t q[32]) { nibbles(b.qs, q); }
void unpack_levels(const BlockQ5_0& b, uint8_t q[32]) {
  nibbles(b.qs, q);
  fifth_bits(b.qh, q);
}
void unpack_levels(const BlockQ5_1& b, uint8_t q[32]) {
  nibbles(b.qs, q);
  fifth_bits(b.qh, q);
}
void unpack_levels(const BlockIQ4_NL& b, uint8_t q[32]) { nibbles(b.qs, q); }
void unpack_levels(const BlockQ2_K& b, uint8_t q[256]) { crumbs(b.qs, q); }
void unpack_levels(const BlockQ3_K& b, uint8_t q[256]) {
  crumbs(b.qs, q);
  high_bits(b.hmask, 2, q);
}
void unpack_levels(const BlockQ4_K& b, uint8_t q[256]) { k_nibbles(b.qs, q); }
void unpack_levels(const BlockQ5_K& b, uint8_t q[256]) {
  k_nibbles(b.qs, q);
  high_bits(b.qh, 4, q);
}
// Q6_K: value 128h + 32j + l has its low nibble in ql[64h + 32(j % 2) + l] (the low nibble
// for j < 2, the high one for j >= 2) and its top two bits in bits 2j..2j+1 of qh[32h + l].
void unpack_levels(const BlockQ6_K& b, uint8_t q[256]) {
  for (int i = 0; i < 256; ++i) {
    int h = i / 128, j = (i % 128) / 32, l = i % 32;
    int low = (b.ql[64 * h + 32 * (j % 2) + l] >> (4 * (j / 2))) & 15;
    int high = (b.qh[32 * h + l] >> (2 * j)) & 3;
    q[i] = static_cast<uint8_t>(low | (high << 4));
  }
}

}  // namespace dseek
