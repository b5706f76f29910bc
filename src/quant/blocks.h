// GGML's block-quantized storage formats, byte for byte as llama.cpp writes them.
// A row of K values is K / block_elems consecutive blocks. `d`, `dmin` and `m` are IEEE
// half floats (bits); everything is little-endian.
//
// 32-value blocks (value i of the block):
//   Q8_0  x = d * qs[i]
//   Q4_0  x = d * (q - 8),  q = i < 16 ? qs[i] & 15 : qs[i - 16] >> 4
//   Q4_1  x = d * q + m,    q as in Q4_0
//   Q5_0  x = d * (q - 16), q = Q4_0's nibble | bit i of qh (little-endian u32) << 4
//   Q5_1  x = d * q + m,    q as in Q5_0
//   IQ4_NL x = d * kIq4nlValues[q], q as in Q4_0 (a non-linear 4-bit codebook)
// 256-value super-blocks (K-quants), sub-block scales quantized against d (and dmin):
//   Q2_K  16 x 16 values, 2-bit q, 4-bit scale and min per sub-block: x = d*sc*q - dmin*mn
//   Q3_K  16 x 16 values, 3-bit q - 4, 6-bit signed scale (stored + 32): x = d*(sc-32)*(q-4)
//   Q4_K  8 x 32 values, 4-bit q, 6-bit scale and min: x = d*sc*q - dmin*mn
//   Q5_K  as Q4_K with a fifth bit from qh
//   Q6_K  16 x 16 values, 6-bit q - 32, int8 scale: x = d*sc*(q-32)
// The bit positions of the levels are spelled out in quant/levels.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dseek {

inline constexpr int kQK = 32;   // values per block of the 32-value formats
inline constexpr int kQKK = 256; // values per K-quant super-block

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
// IQ4_NL's levels: denser near zero, where most weights are.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct BlockQ2_K {
  uint8_t scales[16];  // low nibble scale, high nibble min, per 16 values
  uint8_t qs[64];
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[32];   // bit j of hmask[l]: high bit of value 32*j + l
  uint8_t qs[64];      // low two bits
  uint8_t scales[12];  // sixteen 6-bit scales
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];  // eight 6-bit scales and eight 6-bit mins
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];      // bit j of qh[l]: fifth bit of value 32*j + l
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];     // low four bits
  uint8_t qh[64];      // high two bits
  int8_t scales[16];
  uint16_t d;
};
// Activations of K-quant products: x = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15].
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

// Q4_K rows interleaved 16 at a time (DType::Q4_K_R16), one 256-value block of each row: for
// the VNNI kernels, which multiply the 16 rows by 4 activations per instruction. qs[j] holds
// values 8j..8j+7 of every row, a dword per row: values 8j..8j+3 in its bytes' low nibbles,
// 8j+4..8j+7 in the high ones. Scales and mins are unpacked bytes, the mins in pairs of
// sub-blocks (2s, 2s+1) for vpdpwssd; d and dmin as in Q4_K. The scalars come first so that a
// block reads in ascending lines: with them after qs, decode from DRAM ran 1.4x slower on 2 threads
// (the hardware prefetchers lose the stream).
struct alignas(64) BlockQ4_KR16 {  // aligned for whole-line loads
  uint16_t d[16], dmin[16];
  uint8_t scales[8][16];   // [sub-block][row]
  uint8_t mins[4][16][2];  // [sub-block / 2][row][sub-block % 2]
  uint8_t qs[32][64];
};

// Q5_0 rows interleaved 16 at a time (DType::Q5_0_R16), two consecutive blocks (h) of each
// row: for the VNNI kernels, as BlockQ4_KR16. qs[h][j] holds values 8j..8j+7 of every row, a
// dword per row: values 8j..8j+3 in its bytes' low nibbles, 8j+4..8j+7 in the high ones. Bit
// 4l + c of high[h][i] is the fifth bit of value 4i + c of row l: a byte mask over the dwords
// of levels 4i..4i+3. Two blocks make whole cache lines.
struct alignas(64) BlockQ5_0R16 {
  uint16_t d[2][16];     // [h][row]
  uint64_t high[2][8];   // [h][4-value group]
  uint8_t qs[2][4][64];  // [h][j][row dword]
};

// Q8_0 rows interleaved 16 at a time (DType::Q8_0_R16), two consecutive blocks (h) of each
// row: qs[h][i] holds values 4i..4i+3 of every row, a dword per row, each level + 128 (the
// unsigned bytes vpdpbusd takes).
struct alignas(64) BlockQ8_0R16 {
  uint16_t d[2][16];     // [h][row]
  uint8_t qs[2][8][64];  // [h][4-value group][row dword]
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockQ4_KR16) == 16 * sizeof(BlockQ4_K) + 64);
static_assert(sizeof(BlockQ5_0R16) == 32 * sizeof(BlockQ5_0) && sizeof(BlockQ8_0R16) == 32 * sizeof(BlockQ8_0));
static_assert(alignof(BlockQ8_0) == 2 && alignof(BlockQ6_K) == 2, "blocks pack without padding");

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block's 12 scale bytes:
// j < 4 in the low six bits of bytes j and j+4; j >= 4 in the nibbles of byte j+4 with
// their top two bits in the high bits of bytes j-4 and j.
inline void k4_scale_min(const uint8_t* scales, int j, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = scales[j] & 63;
    min = scales[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// The sixteen 6-bit scales of a Q3_K block, still offset by 32: scale i has its low nibble in
// byte i (i < 8) or the high nibble of byte i-8, and its top two bits at bit 2*(i/4) of byte 8 + i%4.
// Word-wise: scales 4w..4w+3 take nibble w/2 of bytes of word w%2, top bits from word 2 >> 2w.
inline void q3k_scales(const uint8_t* scales, int8_t out[16]) {
  uint32_t in[3], words[4];
  std::memcpy(in, scales, 12);
  for (int w = 0; w < 4; ++w)
    words[w] = ((in[w % 2] >> (4 * (w / 2))) & 0x0f0f0f0f) | (((in[2] >> (2 * w)) & 0x03030303) << 4);
  std::memcpy(out, words, 16);
}

#if defined(__SSE2__)
// q3k_scales in a register. The SIMD kernels must not take them through memory: a 16-byte load
// of four 4-byte stores cannot be forwarded and waits until they retire, which cost Q3_K's
// one-row decode kernel two thirds of its speed.
inline __m128i q3k_scales_sse2(const uint8_t* scales) {
  uint32_t word2;
  std::memcpy(&word2, scales + 8, 4);
  const __m128i in = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales)), _mm_cvtsi32_si128(static_cast<int>(word2)));
  const __m128i low = _mm_and_si128(_mm_unpacklo_epi64(in, _mm_srli_epi32(in, 4)), _mm_set1_epi8(0x0f));  // words 0, 1 >> 0, 0, 4, 4
  const __m128i top = _mm_shuffle_epi32(in, 0xaa);
  const __m128i top01 = _mm_unpacklo_epi32(top, _mm_srli_epi32(top, 2));
  const __m128i tops = _mm_unpacklo_epi64(top01, _mm_srli_epi32(top01, 4));  // word 2 >> 0, 2, 4, 6
  return _mm_or_si128(low, _mm_slli_epi32(_mm_and_si128(tops, _mm_set1_epi8(0x03)), 4));
}
#endif

}  // namespace dseek
