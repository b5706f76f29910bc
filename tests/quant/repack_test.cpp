// Q4_K rows interleaved 16 at a time: the repacking is lossless, and every kernel and view over
// the interleaved layout computes what it computes over the rows.
#include "quant/repack.h"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "quant/dot.h"
#include "quant/formats.h"
#include "util/error.h"
#include "quant_test_util.h"

namespace dseek {
namespace {

using testing_util::for_each_isa;
using testing_util::gaussian;

// A Q4_K matrix and its repacked copy.
struct Repacked {
  int64_t rows, cols;
  std::vector<BlockQ4_K> blocks;
  std::vector<BlockQ4_KR16> groups;
  Weight q4_k, r16;

  Repacked(int64_t r, int64_t c, uint32_t seed) : rows(r), cols(c), blocks(r * c / 256), groups(r * c / 256 / 16) {
    std::vector<float> v = gaussian(rows * cols, seed);
    for (int64_t i = 0; i < cols; ++i) v[i] *= 40;  // row 0: scales and mins up to their 6-bit limit
    for (int64_t i = 0; i < rows; ++i) quantize_row(DType::Q4_K, v.data() + i * cols, blocks.data() + i * cols / 256, cols);
    q4_k = Weight{.dtype = DType::Q4_K, .rows = rows, .cols = cols, .data = blocks.data(), .row_stride = cols};
    r16 = repack(q4_k, DType::Q4_K_R16, groups.data());
  }
};

TEST(Repack, UnpacksToTheSameBytes) {
  Repacked w(48, 768, 1);
  EXPECT_EQ(w.r16.bytes(), w.q4_k.bytes() * 148 / 144);
  int high_scales = 0;
  for (int64_t r = 0; r < w.rows; ++r) {
    std::vector<BlockQ4_K> row(3);
    unpack_q4_k_r16_row(w.r16, r, 0, 3, row.data());
    ASSERT_EQ(std::memcmp(row.data(), w.blocks.data() + r * 3, sizeof(BlockQ4_K) * 3), 0) << "row " << r;
    unpack_q4_k_r16_row(w.r16, r, 2, 1, row.data());
    ASSERT_EQ(std::memcmp(row.data(), w.blocks.data() + r * 3 + 2, sizeof(BlockQ4_K)), 0) << "row " << r << " block 2";
    for (int s = 0; s < 8; ++s) high_scales += w.groups[r / 16 * 3].scales[s][r % 16] >= 32;
  }
  EXPECT_GT(high_scales, 0);  // the scales' top bits were exercised
}

TEST(Repack, DotKernelsMatchTheRowKernel) {
  for (int64_t nb : {1, 3, 8}) {
    Repacked w(32, 256 * nb, 2 + static_cast<uint32_t>(nb));
    const int64_t k = w.cols;
    const size_t act = quant::act_row_bytes(DType::Q4_K, k);
    ASSERT_EQ(act, quant::act_row_bytes(DType::Q4_K_R16, k));
    std::vector<unsigned char> xq(4 * act);
    std::vector<float> x = gaussian(4 * k, 9);
    for (int r = 0; r < 4; ++r) quant::quantize_act_row(DType::Q4_K_R16, x.data() + r * k, xq.data() + r * act, k);
    for (quant::DotIsa isa : {quant::DotIsa::Scalar, quant::DotIsa::Avx2, quant::DotIsa::Avx512Bw, quant::DotIsa::Avx512Vnni}) {
      if (!quant::dot_isa_supported(isa)) continue;
      for (int nx = 1; nx <= 4; ++nx) {
        SCOPED_TRACE(::testing::Message() << quant::dot_isa_name(isa) << " nb " << nb << " nx " << nx);
        std::vector<float> got(4 * 32, NAN);
        for (int g = 0; g < 2; ++g)
          quant::dot_kernel(DType::Q4_K_R16, isa)(nb, w.groups.data() + g * nb, xq.data(), act, nx, got.data() + 16 * g, 32);
        for (int r = 0; r < nx; ++r)
          for (int n = 0; n < 32; ++n) {
            float want;
            quant::scalar::dot_kernel(DType::Q4_K)(nb, w.blocks.data() + n * nb, xq.data() + r * act, act, 1, &want, 1);
            ASSERT_NEAR(got[r * 32 + n], want, 1e-5f * (std::fabs(want) + 1)) << "x row " << r << " weight row " << n;
          }
      }
    }
  }
}

// Decode (m <= 4), tiles of dot kernels and the VNNI panels (m >= 5) against the row layout.
TEST(Repack, MatmulMatchesTheRowLayout) {
  Repacked w(96, 512, 3);
  for_each_isa([&] {
    for (int64_t m : {1, 3, 4, 5, 9, 70}) {
      SCOPED_TRACE(::testing::Message() << "m=" << m);
      std::vector<float> x = gaussian(m * w.cols, 4), want(m * w.rows), got(m * w.rows, NAN);
      matmul(x.data(), m, w.q4_k, want.data());
      matmul(x.data(), m, w.r16, got.data());
      for (int64_t i = 0; i < m * w.rows; ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * (std::fabs(want[i]) + 1)) << i;
    }
  });
}

TEST(Repack, ViewsTakeWholeGroupsAndRowsReadBack) {
  Repacked w(48, 512, 5);
  std::vector<float> want(7 * w.cols), got(7 * w.cols);
  dequantize_rows(w.q4_k, 21, 7, want.data());
  dequantize_rows(w.r16, 21, 7, got.data());
  EXPECT_EQ(got, want);

  std::vector<float> x = gaussian(2 * w.rows, 6), rows_want(2 * w.cols), rows_got(2 * w.cols);
  matmul_rows(x.data(), 2, w.q4_k, rows_want.data());
  matmul_rows(x.data(), 2, w.r16, rows_got.data());
  EXPECT_EQ(rows_got, rows_want);

  std::vector<float> xs = gaussian(w.cols, 7), full(w.rows), part(16);
  matmul(xs.data(), 1, w.r16, full.data());
  matmul(xs.data(), 1, w.r16.slice_rows(16, 16), part.data());
  for (int i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(part[i], full[16 + i]);
  for (auto [begin, count] : {std::pair<int64_t, int64_t>{8, 16}, {16, 8}}) {
    try {
      w.r16.slice_rows(begin, count);
      ADD_FAILURE() << "slice [" << begin << ", " << begin + count << ") was taken";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("groups of 16 interleaved rows"), std::string::npos) << e.what();
    }
  }
}

// Decode's split products: one prepared row, ranges of rows in any order, give matmul's result
// bit for bit, over the stored and the interleaved layout; ranges that split a group fail.
TEST(Repack, PreparedRowsGiveMatmulsResultInRanges) {
  for_each_isa([] {
    Repacked w(64, 512, 9);
    std::vector<float> x = gaussian(w.cols, 10);
    for (const Weight& weight : {w.q4_k, w.r16}) {
      SCOPED_TRACE(std::string(dtype_name(weight.dtype)));
      std::vector<float> whole(w.rows), pieces(w.rows, NAN);
      matmul(x.data(), 1, weight, whole.data());
      const MatvecInput input(x.data(), weight);
      EXPECT_TRUE(input.serves(x.data(), weight));
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{32, 64}, {0, 16}, {16, 32}}) input.multiply(weight, r0, r1, pieces.data());
      for (int64_t n = 0; n < w.rows; ++n) ASSERT_EQ(pieces[n], whole[n]) << "row " << n;
    }
    const MatvecInput input(x.data(), w.r16);
    std::vector<float> y(w.rows);
    EXPECT_THROW(input.multiply(w.r16, 8, 24, y.data()), Error);
    EXPECT_FALSE(input.serves(x.data(), w.q4_k));
    EXPECT_THROW(input.multiply(w.q4_k, 0, 16, y.data()), Error);
  });
}

TEST(Repack, OnlyDenseQ4_KInWholeGroups) {
  Repacked w(32, 256, 8);
  const bool vnni = quant::active_dot_isa() == quant::DotIsa::Avx512Vnni;
  EXPECT_EQ(repacked_dtype(w.q4_k).has_value(), vnni);
  Weight odd = w.q4_k.slice_rows(0, 20);
  EXPECT_FALSE(repacked_dtype(odd));
  Weight q6 = w.q4_k;
  q6.dtype = DType::Q6_K;
  EXPECT_FALSE(repacked_dtype(q6));
  std::vector<BlockQ4_KR16> out(2);
  try {
    repack(odd, DType::Q4_K_R16, out.data());
    ADD_FAILURE() << "20 rows were repacked";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("20 rows"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dseek
