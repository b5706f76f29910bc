// Q4_K, Q5_0 and Q8_0 rows interleaved 16 at a time: the repacking is lossless, and every kernel
// and view over the interleaved layout computes what it computes over the rows, but Q4_K's
// prefill panels, which requantize within a bound of their own.
#include "quant/repack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/convert.h"
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

// A source format and the interleaved layout made from it.
struct Layout {
  DType source, interleaved;
};
void PrintTo(const Layout& l, std::ostream* os) { *os << dtype_name(l.interleaved); }

// A matrix in the source format and its repacked copy.
struct Repacked {
  Layout layout;
  int64_t rows, cols;
  std::vector<unsigned char> blocks;
  struct alignas(64) Line {
    unsigned char bytes[64];
  };
  std::vector<Line> lines;
  Weight source, r16;

  Repacked(Layout l, int64_t r, int64_t c, uint32_t seed)
      : layout(l), rows(r), cols(c), blocks(r * row_bytes(l.source, c)), lines((r * row_bytes(l.interleaved, c) + 63) / 64) {
    std::vector<float> v = gaussian(rows * cols, seed);
    for (int64_t i = 0; i < cols; ++i) v[i] *= 40;  // row 0: Q4_K's scales and mins up to their 6-bit limit
    for (int64_t i = 0; i < rows; ++i) quantize_row(l.source, v.data() + i * cols, row(i), cols);
    source = Weight{.dtype = l.source, .rows = rows, .cols = cols, .data = blocks.data(), .row_stride = cols};
    r16 = repack(source, l.interleaved, lines.data());
  }
  unsigned char* row(int64_t i) { return blocks.data() + i * row_bytes(layout.source, cols); }
  // Columns of `blocks` interleaved blocks.
  static int64_t columns(Layout l, int64_t blocks) { return blocks * static_cast<int64_t>(dtype_block_elems(l.interleaved)); }
};

class Repack : public ::testing::TestWithParam<Layout> {};

TEST_P(Repack, UnpacksToTheSameBytes) {
  Repacked w(GetParam(), 48, Repacked::columns(GetParam(), 3), 1);
  EXPECT_EQ(w.r16.bytes(), w.source.bytes() * dtype_block_bytes(w.r16.dtype) / dtype_block_bytes(w.source.dtype) *
                               dtype_block_elems(w.source.dtype) / dtype_block_elems(w.r16.dtype));
  const size_t block_bytes = row_bytes(w.source.dtype, Repacked::columns(GetParam(), 1));
  int high_scales = 0;
  for (int64_t r = 0; r < w.rows; ++r) {
    std::vector<unsigned char> row(3 * block_bytes);
    unpack_interleaved_row(w.r16, r, 0, 3, row.data());
    ASSERT_EQ(std::memcmp(row.data(), w.row(r), 3 * block_bytes), 0) << "row " << r;
    unpack_interleaved_row(w.r16, r, 2, 1, row.data());
    ASSERT_EQ(std::memcmp(row.data(), w.row(r) + 2 * block_bytes, block_bytes), 0) << "row " << r << " block 2";
    if (w.r16.dtype == DType::Q4_K_R16) {
      for (int s = 0; s < 8; ++s) high_scales += reinterpret_cast<const BlockQ4_KR16*>(w.lines.data())[r / 16 * 3].scales[s][r % 16] >= 32;
    }
  }
  if (w.r16.dtype == DType::Q4_K_R16) {
    EXPECT_GT(high_scales, 0);  // the scales' top bits were exercised
  }
}

TEST_P(Repack, DotKernelsMatchTheRowKernel) {
  for (int64_t nb : {1, 3, 8}) {
    Repacked w(GetParam(), 32, Repacked::columns(GetParam(), nb), 2 + static_cast<uint32_t>(nb));
    const int64_t k = w.cols, row_blocks = k / static_cast<int64_t>(dtype_block_elems(w.source.dtype));
    const size_t act = quant::act_row_bytes(w.source.dtype, k);
    ASSERT_EQ(act, quant::act_row_bytes(w.r16.dtype, k));
    std::vector<unsigned char> xq(4 * act);
    std::vector<float> x = gaussian(4 * k, 9);
    for (int r = 0; r < 4; ++r) quant::quantize_act_row(w.r16.dtype, x.data() + r * k, xq.data() + r * act, k);
    const size_t group_bytes = 16 * row_bytes(w.r16.dtype, k);
    for (quant::DotIsa isa : {quant::DotIsa::Scalar, quant::DotIsa::Avx2, quant::DotIsa::Avx512Bw, quant::DotIsa::Avx512Vnni}) {
      if (!quant::dot_isa_supported(isa)) continue;
      for (int nx = 1; nx <= 4; ++nx) {
        SCOPED_TRACE(::testing::Message() << quant::dot_isa_name(isa) << " nb " << nb << " nx " << nx);
        std::vector<float> got(4 * 32, NAN);
        for (int g = 0; g < 2; ++g)
          quant::dot_kernel(w.r16.dtype, isa)(nb, reinterpret_cast<const char*>(w.lines.data()) + g * group_bytes, xq.data(), act, nx,
                                              got.data() + 16 * g, 32);
        for (int r = 0; r < nx; ++r)
          for (int n = 0; n < 32; ++n) {
            float want;
            quant::scalar::dot_kernel(w.source.dtype)(row_blocks, w.row(n), xq.data() + r * act, act, 1, &want, 1);
            ASSERT_NEAR(got[r * 32 + n], want, 1e-5f * (std::fabs(want) + 1)) << "x row " << r << " weight row " << n;
          }
      }
    }
  }
}

// Decode (m <= 4), tiles of dot kernels and the VNNI panels (m >= 5) against the row layout;
// but Q4_K_R16's panels, which requantize (the test below).
bool requantizes(DType weight, int64_t m) {
  return weight == DType::Q4_K_R16 && m >= 5 && quant::active_dot_isa() == quant::DotIsa::Avx512Vnni;
}
TEST_P(Repack, MatmulMatchesTheRowLayout) {
  Repacked w(GetParam(), 112, 512, 3);  // the last panel half full
  for_each_isa([&] {
    for (int64_t m : {1, 3, 4, 5, 9, 70}) {
      if (requantizes(w.r16.dtype, m)) continue;
      SCOPED_TRACE(::testing::Message() << "m=" << m);
      std::vector<float> x = gaussian(m * w.cols, 4), want(m * w.rows), got(m * w.rows, NAN);
      matmul(x.data(), m, w.source, want.data());
      matmul(x.data(), m, w.r16, got.data());
      for (int64_t i = 0; i < m * w.rows; ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * (std::fabs(want[i]) + 1)) << i;
    }
  });
}

TEST_P(Repack, ViewsTakeWholeGroupsAndRowsReadBack) {
  Repacked w(GetParam(), 48, 512, 5);
  std::vector<float> want(7 * w.cols), got(7 * w.cols);
  dequantize_rows(w.source, 21, 7, want.data());
  dequantize_rows(w.r16, 21, 7, got.data());
  EXPECT_EQ(got, want);

  std::vector<float> x = gaussian(2 * w.rows, 6), rows_want(2 * w.cols), rows_got(2 * w.cols);
  matmul_rows(x.data(), 2, w.source, rows_want.data());
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
TEST_P(Repack, PreparedRowsGiveMatmulsResultInRanges) {
  for_each_isa([] {
    Repacked w(GetParam(), 64, 512, 9);
    std::vector<float> x = gaussian(w.cols, 10);
    for (const Weight& weight : {w.source, w.r16}) {
      SCOPED_TRACE(std::string(dtype_name(weight.dtype)));
      std::vector<float> whole(w.rows), pieces(w.rows, NAN);
      matmul(x.data(), 1, weight, whole.data());
      const MatmulInput input(x.data(), 1, weight);
      EXPECT_TRUE(input.serves(x.data(), weight));
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{32, 64}, {0, 16}, {16, 32}}) input.multiply_rows(weight, r0, r1, pieces.data());
      for (int64_t n = 0; n < w.rows; ++n) ASSERT_EQ(pieces[n], whole[n]) << "row " << n;
    }
    const MatmulInput input(x.data(), 1, w.r16);
    std::vector<float> y(w.rows);
    EXPECT_THROW(input.multiply_rows(w.r16, 8, 24, y.data()), Error);
    EXPECT_FALSE(input.serves(x.data(), w.source));
    EXPECT_THROW(input.multiply_rows(w.source, 0, 16, y.data()), Error);
  });
}

// Long prompts' attention: rows prepared once, then row slices of one weight (each head's share
// of kv_b), for all the rows or a block of them, give matmul's result bit for bit, on every path
// a product of m rows takes: the dot kernels of few rows, their tiles for more and, on AVX-512
// VNNI, the panels.
TEST_P(Repack, PreparedRowsGiveMatmulsResultForRowSlices) {
  for_each_isa([] {
    Repacked w(GetParam(), 64, 512, 11);
    for (const Weight& weight : {w.source, w.r16}) {
      for (int64_t m : {1, 3, 12, 100}) {
        SCOPED_TRACE(std::string(dtype_name(weight.dtype)) + ", " + std::to_string(m) + " rows");
        std::vector<float> x = gaussian(m * w.cols, 12), whole(m * w.rows);
        matmul(x.data(), m, weight, whole.data());
        const MatmulInput input(x.data(), m, weight);
        for (auto [i0, count] : {std::pair<int64_t, int64_t>{0, m}, {m / 3, m - m / 3}}) {
          for (auto [r0, n] : {std::pair<int64_t, int64_t>{0, 16}, {16, 48}}) {
            std::vector<float> slice(count * n, NAN);
            input.multiply(weight.slice_rows(r0, n), i0, count, slice.data());
            for (int64_t i = 0; i < count; ++i)
              for (int64_t j = 0; j < n; ++j)
                ASSERT_EQ(slice[i * n + j], whole[(i0 + i) * w.rows + r0 + j]) << "row " << i0 + i << ", column " << r0 + j;
          }
        }
        std::vector<float> y(m * w.rows);
        EXPECT_THROW(input.multiply(weight, 1, m, y.data()), Error);  // past the prepared rows
        if (m > 1) {
          EXPECT_THROW(input.multiply_rows(weight, 0, 16, y.data()), Error);  // ranges take one row
        }
      }
    }
  });
}

// MoE prefill: a layer's rows prepared once, then each expert's tokens gathered from them (in
// any order, a row more than once), give matmul's result on those rows bit for bit.
TEST_P(Repack, GatheredPreparedRowsGiveMatmulsResult) {
  for_each_isa([] {
    Repacked w(GetParam(), 64, 512, 13);
    const int64_t m = 40;
    std::vector<float> x = gaussian(m * w.cols, 14);
    for (const Weight& weight : {w.source, w.r16}) {
      const MatmulInput all(x.data(), m, weight);
      for (const std::vector<int64_t>& rows : {std::vector<int64_t>{7}, {39, 0, 7, 7}, {0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 20, 30, 38, 39}}) {
        SCOPED_TRACE(std::string(dtype_name(weight.dtype)) + ", " + std::to_string(rows.size()) + " rows");
        const auto count = static_cast<int64_t>(rows.size());
        std::vector<float> xs(count * w.cols), want(count * w.rows), got(count * w.rows, NAN);
        for (int64_t i = 0; i < count; ++i) std::copy_n(x.data() + rows[i] * w.cols, w.cols, xs.data() + i * w.cols);
        matmul(xs.data(), count, weight, want.data());
        const MatmulInput gathered(all, rows);
        EXPECT_TRUE(gathered.serves(weight));
        gathered.multiply(weight, got.data());
        for (int64_t i = 0; i < count * w.rows; ++i) ASSERT_EQ(got[i], want[i]) << "row " << i / w.rows << ", column " << i % w.rows;
      }
      EXPECT_THROW(MatmulInput(all, std::vector<int64_t>{0, m}), Error);
    }
  });
}

TEST_P(Repack, OnlyDenseRowsInWholeGroups) {
  Repacked w(GetParam(), 32, 256, 8);
  const bool vnni = quant::active_dot_isa() == quant::DotIsa::Avx512Vnni;
  EXPECT_EQ(repacked_dtype(w.source), vnni ? std::optional(w.r16.dtype) : std::nullopt);
  Weight odd = w.source.slice_rows(0, 20);
  EXPECT_FALSE(repacked_dtype(odd));
  Weight q6 = w.source;
  q6.dtype = DType::Q6_K;
  EXPECT_FALSE(repacked_dtype(q6));
  std::vector<Repacked::Line> out(w.lines.size());
  try {
    repack(odd, w.r16.dtype, out.data());
    ADD_FAILURE() << "20 rows were repacked";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("20 rows"), std::string::npos) << e.what();
  }
  EXPECT_THROW(repack(q6, w.r16.dtype, out.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(Layouts, Repack,
                         ::testing::Values(Layout{DType::Q4_K, DType::Q4_K_R16}, Layout{DType::Q5_0, DType::Q5_0_R16},
                                           Layout{DType::Q8_0, DType::Q8_0_R16}),
                         [](const ::testing::TestParamInfo<Layout>& info) { return std::string(dtype_name(info.param.interleaved)); });

// Q4_K_R16's prefill panels requantize each block of a row, d*sc*q - dmin*m, to int8 levels of
// one step: the block's bound (max over its sub-blocks of dmin*m and |15*d*sc - dmin*m|) / 127.
// Against the row layout, whose panels use the levels as stored, each weight then moves by a
// rounding error within half a step, each y by Σ_k x_k·δ_k: σ² = Σ_k x_k² step² / 12, and the
// differences' RMS is that σ's (a coarser step, or none, fails), each within 6σ.
TEST(RepackQ4K, PrefillRequantizesEachBlockWithinHalfAStep) {
  if (quant::active_dot_isa() != quant::DotIsa::Avx512Vnni) GTEST_SKIP() << "the panels run on AVX-512 VNNI";
  Repacked w(Layout{DType::Q4_K, DType::Q4_K_R16}, 64, 1024, 11);
  const int64_t blocks = w.cols / 256;
  std::vector<float> step(w.rows * blocks);
  for (int64_t n = 0; n < w.rows; ++n)
    for (int64_t b = 0; b < blocks; ++b) {
      const auto& g = reinterpret_cast<const BlockQ4_KR16*>(w.lines.data())[n / 16 * blocks + b];
      const int l = static_cast<int>(n % 16);
      const float d = f16_to_f32(g.d[l]), dmin = f16_to_f32(g.dmin[l]);
      float bound = 0;
      for (int s = 0; s < 8; ++s) {
        const float low = dmin * g.mins[s / 2][l][s % 2];
        bound = std::max({bound, low, std::fabs(15 * d * g.scales[s][l] - low)});
      }
      step[n * blocks + b] = bound / 127;
    }
  for (int64_t m : {5, 16, 70}) {
    SCOPED_TRACE(::testing::Message() << "m=" << m);
    std::vector<float> x = gaussian(m * w.cols, 12), want(m * w.rows), got(m * w.rows);
    matmul(x.data(), m, w.source, want.data());
    matmul(x.data(), m, w.r16, got.data());
    double diff2 = 0, var_sum = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t n = 0; n < w.rows; ++n) {
        double var = 0;
        for (int64_t c = 0; c < w.cols; ++c) var += double(x[i * w.cols + c]) * x[i * w.cols + c] * step[n * blocks + c / 256] * step[n * blocks + c / 256] / 12;
        const double diff = got[i * w.rows + n] - want[i * w.rows + n];
        ASSERT_LE(std::fabs(diff), 6 * std::sqrt(var) + 1e-4 * (std::fabs(want[i * w.rows + n]) + 1)) << "row " << i << " col " << n;
        diff2 += diff * diff, var_sum += var;
      }
    EXPECT_NEAR(std::sqrt(diff2 / var_sum), 1.0, 0.25);
  }
}

// Q5_0_R16 and Q8_0_R16 groups pair a row's blocks: an odd number of them stays as stored.
TEST(RepackQ32, RowsOfWholeBlockPairsOnly) {
  std::vector<BlockQ8_0> blocks(16 * 3);
  std::vector<BlockQ8_0R16> out(2);
  for (auto [source, interleaved] : {std::pair{DType::Q5_0, DType::Q5_0_R16}, {DType::Q8_0, DType::Q8_0_R16}}) {
    const Weight odd{.dtype = source, .rows = 16, .cols = 96, .data = blocks.data(), .row_stride = 96};
    EXPECT_FALSE(repacked_dtype(odd)) << dtype_name(source);
    EXPECT_THROW(repack(odd, interleaved, out.data()), Error) << dtype_name(source);
  }
}

}  // namespace
}  // namespace dseek
