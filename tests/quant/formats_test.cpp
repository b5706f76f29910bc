#include "quant/formats.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/convert.h"
#include "quant/blocks.h"
#include "util/error.h"
#include "quant_test_util.h"

namespace dseek {
namespace {

using testing_util::gaussian;

std::vector<float> round_trip(DType dtype, const std::vector<float>& x) {
  std::vector<unsigned char> blocks(row_bytes(dtype, static_cast<int64_t>(x.size())));
  quantize_row(dtype, x.data(), blocks.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y(x.size());
  dequantize_row(dtype, blocks.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

float relative_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += double(x[i] - y[i]) * (x[i] - y[i]);
    ref += double(x[i]) * x[i];
  }
  return static_cast<float>(std::sqrt(err / ref));
}

template <typename Block>
std::vector<float> dequantize_block(DType dtype, const Block& b) {
  std::vector<float> y(dtype_block_elems(dtype));
  dequantize_row(dtype, &b, y.data(), static_cast<int64_t>(y.size()));
  return y;
}

// ---- layouts: blocks built by hand, values expected from the format's definition -----------

TEST(QuantLayout, Q8_0) {
  BlockQ8_0 b;
  b.d = f32_to_f16(0.5f);
  for (int i = 0; i < 32; ++i) b.qs[i] = static_cast<int8_t>(i * 8 - 128);
  std::vector<float> y = dequantize_block(DType::Q8_0, b);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 0.5f * (i * 8 - 128)) << i;
}

TEST(QuantLayout, Q4_0AndQ4_1) {
  BlockQ4_0 b;
  b.d = f32_to_f16(2.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> y = dequantize_block(DType::Q4_0, b);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(y[i], 2.0f * (i - 8)) << i;           // low nibbles first
  for (int i = 16; i < 32; ++i) EXPECT_EQ(y[i], 2.0f * (31 - i - 8)) << i;     // then the high ones

  BlockQ4_1 a;
  a.d = f32_to_f16(0.25f);
  a.m = f32_to_f16(-1.5f);
  std::memcpy(a.qs, b.qs, 16);
  y = dequantize_block(DType::Q4_1, a);
  EXPECT_EQ(y[0], -1.5f);
  EXPECT_EQ(y[5], 0.25f * 5 - 1.5f);
  EXPECT_EQ(y[16], 0.25f * 15 - 1.5f);
  EXPECT_EQ(y[31], 0.25f * 0 - 1.5f);
}

TEST(QuantLayout, Q5_0AndQ5_1) {
  BlockQ5_0 b;
  b.d = f32_to_f16(1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
  // qh is one little-endian 32-bit mask: bit i is the fifth bit of value i.
  const uint32_t qh = 0x80000001u | (1u << 17);  // values 0, 17 and 31
  std::memcpy(b.qh, &qh, 4);
  std::vector<float> y = dequantize_block(DType::Q5_0, b);
  EXPECT_EQ(y[0], 0 + 16 - 16);
  EXPECT_EQ(y[1], 1 - 16);
  EXPECT_EQ(y[16], 0 - 16);
  EXPECT_EQ(y[17], 1 + 16 - 16);
  EXPECT_EQ(y[31], 15 + 16 - 16);
  EXPECT_EQ(y[30], 14 - 16);

  BlockQ5_1 a;
  a.d = f32_to_f16(0.5f);
  a.m = f32_to_f16(3.0f);
  std::memcpy(a.qh, &qh, 4);
  std::memcpy(a.qs, b.qs, 16);
  y = dequantize_block(DType::Q5_1, a);
  EXPECT_EQ(y[0], 0.5f * 16 + 3);
  EXPECT_EQ(y[1], 0.5f * 1 + 3);
  EXPECT_EQ(y[31], 0.5f * 31 + 3);
}

TEST(QuantLayout, IQ4_NL) {
  BlockIQ4_NL b;
  b.d = f32_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  std::vector<float> y = dequantize_block(DType::IQ4_NL, b);
  // Nibbles ordered as Q4_0's, each indexing the codebook -127 -104 -83 -65 -49 -35 -22 -10 1 13 25 38 53 69 89 113.
  EXPECT_EQ(y[0], -63.5f);
  EXPECT_EQ(y[7], -5.0f);
  EXPECT_EQ(y[8], 0.5f);
  EXPECT_EQ(y[15], 56.5f);
  EXPECT_EQ(y[16], 56.5f);
  EXPECT_EQ(y[21], 12.5f);  // high nibble of qs[5]: 10
  EXPECT_EQ(y[31], -63.5f);
}

TEST(QuantLayout, Q2_K) {
  BlockQ2_K b{};
  b.d = f32_to_f16(0.5f);
  b.dmin = f32_to_f16(0.25f);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>((j % 16) | ((15 - j) << 4));
  // Byte 32*h + l holds values 128*h + l, +32, +64, +96 at bits 0, 2, 4, 6: here levels 0, 1, 2, 3.
  std::memset(b.qs, 0xE4, sizeof b.qs);
  b.qs[33] = 0x1B;  // levels 3, 2, 1, 0 for values 129, 161, 193, 225
  std::vector<float> y = dequantize_block(DType::Q2_K, b);
  for (int i = 0; i < 256; ++i) {
    int level = (i % 128) / 32;
    if (i % 32 == 1 && i >= 128) level = 3 - level;
    int sub = i / 16;
    EXPECT_EQ(y[i], 0.5f * sub * level - 0.25f * (15 - sub)) << i;
  }
}

TEST(QuantLayout, Q3_K) {
  BlockQ3_K b{};
  b.d = f32_to_f16(1.0f);
  std::memset(b.qs, 0xE4, sizeof b.qs);  // low bits: level (i % 128) / 32, as in Q2_K
  std::memset(b.hmask, 0x0F, sizeof b.hmask);  // bit j of hmask[l]: value 32j + l; set for i < 128
  // Scales: byte 0 low nibble -> scale 0, high nibble -> scale 8; byte 8 bits 2k..2k+1 are the top
  // bits of scales 0, 4, 8, 12. All others zero: stored 0 means scale -32.
  b.scales[0] = 0x5A;
  b.scales[8] = 0xE4;
  int8_t expect_stored[16] = {};
  expect_stored[0] = 10;            // 0xA | 0 << 4
  expect_stored[4] = 16;            // 0 | 1 << 4
  expect_stored[8] = 5 + 32;        // 0x5 | 2 << 4
  expect_stored[12] = 48;           // 0 | 3 << 4
  std::vector<float> y = dequantize_block(DType::Q3_K, b);
  for (int i = 0; i < 256; ++i) {
    int q = (i % 128) / 32 + (i < 128 ? 4 : 0);
    EXPECT_EQ(y[i], float((expect_stored[i / 16] - 32) * (q - 4))) << i;
  }
}

#if defined(__SSE2__)
// The SIMD kernels' register form of the Q3_K scales unpacks every bit as the scalar one does.
TEST(QuantLayout, Q3_KScalesInRegisterMatchScalar) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    uint8_t packed[12];
    for (uint8_t& byte : packed) byte = static_cast<uint8_t>(rng());
    int8_t want[16], got[16];
    q3k_scales(packed, want);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(got), q3k_scales_sse2(packed));
    for (int i = 0; i < 16; ++i) EXPECT_EQ(got[i], want[i]) << "scale " << i << " of trial " << trial;
  }
}
#endif

TEST(QuantLayout, Q4_K) {
  BlockQ4_K b{};
  b.d = f32_to_f16(2.0f);
  b.dmin = f32_to_f16(0.5f);
  // Sub-blocks 0..3: scale in bytes 0..3, min in bytes 4..7 (low six bits). Sub-blocks 4..7:
  // low nibbles in bytes 8..11 (scale low, min high), top two bits in bits 6..7 of bytes 0..3
  // (scale) and 4..7 (min).
  b.scales[0] = 0x40 | 3;  // scale 0 = 3, top bits of scale 4 = 1
  b.scales[4] = 0xC0 | 7;  // min 0 = 7, top bits of min 4 = 3
  b.scales[8] = 0x92;      // scale 4 low nibble 2, min 4 low nibble 9
  b.scales[3] = 63;        // scale 3 = 63
  const int scale[8] = {3, 0, 0, 63, 2 | 1 << 4, 0, 0, 0};
  const int min[8] = {7, 0, 0, 0, 9 | 3 << 4, 0, 0, 0};
  // Byte 32c + l: value 64c + l in the low nibble, value 64c + 32 + l in the high one.
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  std::vector<float> y = dequantize_block(DType::Q4_K, b);
  for (int i = 0; i < 256; ++i) {
    int sub = i / 32, l = i % 32;
    int q = sub % 2 == 0 ? l % 16 : 15 - l % 16;
    EXPECT_EQ(y[i], 2.0f * scale[sub] * q - 0.5f * min[sub]) << i;
  }
}

TEST(QuantLayout, Q5_K) {
  BlockQ5_K b{};
  b.d = f32_to_f16(1.0f);
  b.dmin = f32_to_f16(1.0f);
  for (int j = 0; j < 4; ++j) b.scales[j] = 1;  // scales 0..3 = 1, everything else 0
  std::memset(b.qs, 0x21, sizeof b.qs);         // low nibble 1, high nibble 2
  b.qh[5] = 0x05;                               // fifth bit of values 5 and 69 (sub-blocks 0 and 2)
  std::vector<float> y = dequantize_block(DType::Q5_K, b);
  EXPECT_EQ(y[0], 1);
  EXPECT_EQ(y[5], 17);
  EXPECT_EQ(y[32 + 5], 2);
  EXPECT_EQ(y[64 + 5], 17);
  EXPECT_EQ(y[96 + 5], 2);
  EXPECT_EQ(y[128 + 5], 0);  // sub-block 4 has scale 0
}

TEST(QuantLayout, Q6_K) {
  BlockQ6_K b{};
  b.d = f32_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j - 8);
  // Value 128h + 32j + l: low nibble in ql[64h + 32(j%2) + l] (low for j < 2, high for j >= 2),
  // top two bits at bits 2j of qh[32h + l].
  for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(0x3 | (0xC << 4));
  for (int i = 0; i < 64; ++i) b.qh[i] = 0xE4;  // top bits 0, 1, 2, 3 for j = 0..3
  std::vector<float> y = dequantize_block(DType::Q6_K, b);
  for (int i = 0; i < 256; ++i) {
    int j = (i % 128) / 32;
    int q = (j < 2 ? 0x3 : 0xC) | (j << 4);
    EXPECT_EQ(y[i], 0.5f * (i / 16 - 8) * (q - 32)) << i;
  }
}

// ---- quantizers: they write what the layout means, and their error is bounded --------------

// Values already on a format's grid (with the scale it picks exactly representable) survive.
TEST(QuantRoundTrip, ExactGridValuesSurvive) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>((i * 7) % 16 - 8);  // -8..7 in every block
  for (DType t : {DType::Q4_0, DType::Q5_0, DType::Q4_1}) {
    std::vector<float> y = round_trip(t, x);
    for (int i = 0; i < 256; ++i) ASSERT_EQ(y[i], x[i]) << dtype_name(t) << " value " << i;
  }
  for (int i = 0; i < 256; ++i) x[i] = i % 32 ? static_cast<float>((i * 37) % 255 - 127) : 127.0f;  // each block spans ±127
  for (DType t : {DType::Q8_0, DType::Q8_K}) {
    std::vector<float> y = round_trip(t, x);
    for (int i = 0; i < 256; ++i) ASSERT_EQ(y[i], x[i]) << dtype_name(t) << " value " << i;
  }
}

TEST(QuantRoundTrip, Q8_0WithinHalfAStep) {
  std::vector<float> x = gaussian(4096, 1, 3.0f);
  std::vector<unsigned char> blocks(row_bytes(DType::Q8_0, 4096));
  quantize_row(DType::Q8_0, x.data(), blocks.data(), 4096);
  std::vector<float> y(4096);
  dequantize_row(DType::Q8_0, blocks.data(), y.data(), 4096);
  const auto* b = reinterpret_cast<const BlockQ8_0*>(blocks.data());
  for (int blk = 0; blk < 4096 / 32; ++blk) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * blk + i]));
    float d = f16_to_f32(b[blk].d);
    EXPECT_NEAR(d, amax / 127, amax / 127 * 0x1p-11f);
    // Rounding error d/2, plus the levels' share of d's own F16 rounding (relative 2^-11).
    float bound = d / 2 + amax * 0x1p-11f;
    for (int i = 0; i < 32; ++i) ASSERT_LE(std::fabs(y[32 * blk + i] - x[32 * blk + i]), bound) << blk << " " << i;
  }
}

TEST(QuantRoundTrip, LegacyFormatsWithinOneStep) {
  std::vector<float> x = gaussian(4096, 2);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1}) {
    std::vector<unsigned char> blocks(row_bytes(t, 4096));
    quantize_row(t, x.data(), blocks.data(), 4096);
    std::vector<float> y(4096);
    dequantize_row(t, blocks.data(), y.data(), 4096);
    const size_t bytes = dtype_block_bytes(t);
    for (int blk = 0; blk < 4096 / 32; ++blk) {
      float d = std::fabs(f16_to_f32(*reinterpret_cast<const uint16_t*>(blocks.data() + blk * bytes)));
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * blk + i]));
      // Affine formats round to the nearest level: d/2. Symmetric ones clamp the far end of the
      // range, which lies a full step past the last level. F16 scale and offset add ~2^-10 amax.
      float bound = (t == DType::Q4_1 || t == DType::Q5_1 ? d / 2 : d) + amax * 0x1p-9f;
      for (int i = 0; i < 32; ++i)
        ASSERT_LE(std::fabs(y[32 * blk + i] - x[32 * blk + i]), bound) << dtype_name(t) << " " << blk << " " << i;
    }
  }
}

// Relative RMS error on N(0, 1) data. A uniform quantizer with step Δ has RMS error Δ/√12; a
// 32-value block spans about ±2.1σ, so b bits give roughly 4.2σ / 2^b / √12 (Q4_1: 0.076,
// Q8_0: 0.0048); the K-quants' fitted scales and mins do better per bit than their min/max grid.
// Bounds sit ~15% above the values measured when this was written, to catch regressions.
TEST(QuantRoundTrip, RelativeRmsErrorOnGaussianData) {
  struct Case {
    DType dtype;
    float bound;
  };
  const Case cases[] = {
      {DType::Q8_0, 0.0062f}, {DType::Q4_0, 0.099f}, {DType::Q4_1, 0.091f},  {DType::Q5_0, 0.049f},
      {DType::Q5_1, 0.044f},  {DType::Q2_K, 0.33f},  {DType::Q3_K, 0.176f},  {DType::Q4_K, 0.083f},
      {DType::Q5_K, 0.042f},  {DType::Q6_K, 0.0205f}, {DType::Q8_K, 0.0082f}, {DType::IQ4_NL, 0.085f},
  };
  std::vector<float> x = gaussian(256 * 64, 3);
  for (const Case& c : cases) {
    float err = relative_rms_error(x, round_trip(c.dtype, x));
    EXPECT_LT(err, c.bound) << dtype_name(c.dtype);
    RecordProperty(std::string(dtype_name(c.dtype)), std::to_string(err));
  }
}

// The scale search must beat plain min/max rounding with the same stored scales' precision:
// compare Q4_K against rounding each 32-value sub-block to 16 levels between its min and max.
TEST(QuantRoundTrip, Q4_KSearchBeatsMinMaxRounding) {
  std::vector<float> x = gaussian(256 * 32, 4);
  std::vector<float> naive(x.size());
  for (size_t s = 0; s < x.size(); s += 32) {
    float lo = std::min(0.0f, *std::min_element(&x[s], &x[s] + 32)), hi = *std::max_element(&x[s], &x[s] + 32);
    float step = (hi - lo) / 15;
    for (size_t i = s; i < s + 32; ++i) naive[i] = lo + step * std::nearbyint((x[i] - lo) / step);
  }
  EXPECT_LT(relative_rms_error(x, round_trip(DType::Q4_K, x)), relative_rms_error(x, naive));
}

TEST(QuantRoundTrip, DegenerateBlocks) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q2_K,
                  DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    std::vector<float> zeros(512, 0.0f);
    for (float v : round_trip(t, zeros)) ASSERT_EQ(v, 0.0f) << dtype_name(t);
    // One outlier among tiny values: everything stays finite and the outlier survives roughly.
    std::vector<float> spike(512, 1e-3f);
    spike[77] = 100.0f;
    std::vector<float> y = round_trip(t, spike);
    for (float v : y) ASSERT_TRUE(std::isfinite(v)) << dtype_name(t);
    EXPECT_NEAR(y[77], 100.0f, 15.0f) << dtype_name(t);
    // Non-finite input must not crash (the result is unspecified).
    std::vector<float> bad = gaussian(512, 5);
    bad[3] = NAN;
    bad[300] = INFINITY;
    round_trip(t, bad);
  }
}

TEST(QuantRoundTrip, PartialBlocksAreRejected) {
  std::vector<float> x(48);
  std::vector<unsigned char> out(1024);
  EXPECT_THROW(quantize_row(DType::Q8_0, x.data(), out.data(), 48), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_K, out.data(), x.data(), 32), Error);
  EXPECT_THROW(quantize_row(DType::BF16, x.data(), out.data(), 32), Error);
}

TEST(QuantFormats, DTypeTableMatchesBlockStructs) {
  EXPECT_EQ(dtype_block_bytes(DType::Q8_0), sizeof(BlockQ8_0));
  EXPECT_EQ(dtype_block_bytes(DType::Q4_K), sizeof(BlockQ4_K));
  EXPECT_EQ(dtype_block_bytes(DType::Q6_K), sizeof(BlockQ6_K));
  EXPECT_EQ(dtype_block_elems(DType::Q3_K), 256u);
  EXPECT_TRUE(is_quantized(DType::Q5_1));
  EXPECT_FALSE(is_quantized(DType::BF16));
  EXPECT_FALSE(parse_dtype("Q4_K").has_value());  // safetensors never names block types
}

}  // namespace
}  // namespace dseek
