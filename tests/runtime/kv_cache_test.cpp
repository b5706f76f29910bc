#include "runtime/kv_cache.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "util/error.h"

namespace dseek {
namespace {

// Rows of 5 values: a page of 4 tokens, 2 layers.
constexpr int kLayers = 2;
constexpr int64_t kWidth = 5, kPage = 4;

std::vector<float> row_of(int layer, int64_t position) {
  std::vector<float> row(kWidth);
  for (int64_t i = 0; i < kWidth; ++i) row[i] = 1.0f + 0.1f * static_cast<float>(i) + 0.337f * position + 100.0f * layer;
  return row;
}

float rounded(DType dtype, float v) {
  if (dtype == DType::BF16) return bf16_to_f32(f32_to_bf16(v));
  if (dtype == DType::F16) return f16_to_f32(f32_to_f16(v));
  return v;
}

TEST(KvCache, RowsComeBackInTheCacheTypeOverPages) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    KvCache cache(kLayers, kWidth, 3 * kPage, kPage, dtype);
    EXPECT_EQ(cache.dtype(), dtype);
    EXPECT_EQ(cache.bytes(), 3 * kLayers * kPage * kWidth * static_cast<int64_t>(dtype_size(dtype)));
    const int other = cache.add_sequence(), seq = cache.add_sequence();
    cache.reserve(other, 1);  // the sequence's pages are not the first ones
    cache.reserve(seq, 2 * kPage);
    cache.write(0, other, 0, row_of(1, 99).data());
    for (int layer = 0; layer < kLayers; ++layer)
      for (int64_t p = 0; p < 2 * kPage; ++p) cache.write(layer, seq, p, row_of(layer, p).data());

    // Values 1..3 of positions 2..6, across the page boundary at 4.
    std::vector<float> got(5 * 3);
    cache.read(1, seq, 2, 5, 1, 3, got.data());
    for (int64_t p = 2; p < 7; ++p)
      for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(got[(p - 2) * 3 + i], rounded(dtype, row_of(1, p)[1 + i])) << p << " " << i;

    // Positions 4..7 as a weight: the second page, first 4 values of each row.
    const Weight w = cache.rows(0, seq, 4, 4, 4);
    EXPECT_EQ(w.dtype, dtype);
    EXPECT_EQ(w.rows, 4);
    EXPECT_EQ(w.cols, 4);
    std::vector<float> dense(4 * 4);
    dequantize_rows(w, 0, 4, dense.data());
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(dense[r * 4 + i], rounded(dtype, row_of(0, 4 + r)[i])) << r << " " << i;

    std::vector<float> first(kWidth);
    cache.read(0, other, 0, 1, 0, kWidth, first.data());
    EXPECT_EQ(first[0], rounded(dtype, row_of(1, 99)[0]));
  }
}

TEST(KvCache, HalfTypesRoundToNearest) {
  KvCache bf16(1, 1, 1, 1, DType::BF16), f16(1, 1, 1, 1, DType::F16);
  for (KvCache* cache : {&bf16, &f16}) cache->reserve(cache->add_sequence(), 1);
  const float value = 1.0f + 3.0f / 512;  // between BF16's 1 and 1 + 1/128, nearer the second (truncation: the first)
  bf16.write(0, 0, 0, &value);
  f16.write(0, 0, 0, &value);
  float got = 0;
  bf16.read(0, 0, 0, 1, 0, 1, &got);
  EXPECT_EQ(got, 1.0f + 1.0f / 128);
  f16.read(0, 0, 0, 1, 0, 1, &got);
  EXPECT_EQ(got, value);  // F16 holds it
}

TEST(KvCache, ErrorsNameWhatIsOutOfRange) {
  KvCache cache(kLayers, kWidth, 2 * kPage, kPage, DType::BF16);
  const int seq = cache.add_sequence();
  cache.reserve(seq, 2 * kPage);
  std::vector<float> out(64);
  auto message = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { cache.rows(0, seq, 3, 2, kWidth); }).find("not within one page"), std::string::npos);
  EXPECT_NE(message([&] { cache.rows(0, seq, 0, 1, kWidth + 1); }).find("6 values of a row of 5"), std::string::npos);
  EXPECT_NE(message([&] { cache.read(0, seq, 0, 1, 3, 3, out.data()); }).find("values [3, 6)"), std::string::npos);
  EXPECT_NE(message([&] { cache.write(kLayers, seq, 0, out.data()); }).find("no layer 2"), std::string::npos);
  EXPECT_NE(message([&] { cache.read(0, seq, 2 * kPage, 1, 0, 1, out.data()); }).find("no reserved page"), std::string::npos);
  EXPECT_NE(message([&] { KvCache(1, 1, 1, 1, DType::Q8_0); }).find("no Q8_0 cache"), std::string::npos);
  EXPECT_NE(message([&] { parse_kv_cache_type("q4_0", "--cache-type"); }).find("--cache-type 'q4_0'"), std::string::npos);
  EXPECT_EQ(parse_kv_cache_type("bf16", "--cache-type"), DType::BF16);
  EXPECT_EQ(parse_kv_cache_type("f16", "--cache-type"), DType::F16);
  EXPECT_EQ(parse_kv_cache_type("f32", "--cache-type"), DType::F32);
}

}  // namespace
}  // namespace dseek
