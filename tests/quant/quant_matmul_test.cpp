#include "quant/quant_matmul.h"

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu.h"
#include "quant/dot.h"
#include "util/error.h"
#include "quant_test_util.h"

namespace dseek {
namespace {

using testing_util::for_each_isa;
using testing_util::gaussian;

constexpr DType kWeightTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL,
                                  DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// A quantized [rows, cols] matrix stored with a row stride of `stride` values.
struct QuantMatrix {
  DType dtype;
  int64_t rows, cols, stride;
  std::vector<unsigned char> bytes;

  QuantMatrix(DType t, int64_t r, int64_t c, uint32_t seed, int64_t s = 0) : dtype(t), rows(r), cols(c), stride(s ? s : c) {
    std::vector<float> v = gaussian(rows * stride, seed);
    bytes.resize(rows * row_bytes(t, stride));
    for (int64_t i = 0; i < rows; ++i)
      quantize_row(t, v.data() + i * stride, bytes.data() + i * row_bytes(t, stride), stride);
  }
  Weight weight() const { return Weight{.dtype = dtype, .rows = rows, .cols = cols, .data = bytes.data(), .row_stride = stride}; }
  std::vector<float> dequantized() const {
    std::vector<float> out(rows * cols), row(stride);
    for (int64_t i = 0; i < rows; ++i) {
      dequantize_row(dtype, bytes.data() + i * row_bytes(dtype, stride), row.data(), stride);
      std::copy(row.begin(), row.begin() + cols, out.begin() + i * cols);
    }
    return out;
  }
};

// Checks every SIMD dot kernel against the scalar one on one weight row of `blocks` blocks
// (w: that row) and 4 activation rows.
void check_dot(DType t, const unsigned char* w, const std::vector<float>& x, int64_t blocks) {
  const int64_t block = static_cast<int64_t>(dtype_block_elems(t)), k = blocks * block;
  SCOPED_TRACE(::testing::Message() << dtype_name(t) << " blocks " << blocks);
  const size_t act = quant::act_row_bytes(t, k);
  std::vector<unsigned char> xq(4 * act);
  for (int r = 0; r < 4; ++r) quant::quantize_act_row(t, x.data() + r * k, xq.data() + r * act, k);
  float want[4], got[4];
  quant::scalar::dot_kernel(t)(blocks, w, xq.data(), act, 4, want, 1);
  for (quant::DotIsa isa : {quant::DotIsa::Avx2, quant::DotIsa::Avx512Bw, quant::DotIsa::Avx512Vnni}) {
    if (!quant::dot_isa_supported(isa)) continue;
    for (int nx = 1; nx <= 4; ++nx) {
      std::fill(got, got + 4, NAN);
      quant::dot_kernel(t, isa)(blocks, w, xq.data(), act, nx, got, 1);
      for (int r = 0; r < nx; ++r)
        EXPECT_NEAR(got[r], want[r], 1e-5f * (std::fabs(want[r]) + 1)) << quant::dot_isa_name(isa) << " nx " << nx;
    }
  }
}

// Every kernel computes exactly the scalar reference's integer sums; only the float
// accumulation order differs.
TEST(QuantDot, SimdKernelsMatchScalar) {
  for (DType t : kWeightTypes) {
    const int64_t block = static_cast<int64_t>(dtype_block_elems(t));
    // One block (tails only), an even count (whole pairs) and odd ones (pairs and a tail; the
    // 32-value formats' steps of 8 blocks, then a tail of 1 or of 2 pairs and 1).
    for (int64_t blocks : {int64_t{1}, int64_t{4}, block == 32 ? int64_t{9} : 5, block == 32 ? int64_t{21} : 3}) {
      const int64_t k = blocks * block;
      QuantMatrix w(t, 1, k, 1);
      std::vector<float> x = gaussian(4 * k, 2);
      x[7] = 40.0f;  // a large activation: sums near the int16 pair limit
      check_dot(t, w.bytes.data(), x, blocks);
    }
  }
}

// Q4_K/Q5_K at their largest levels, scales and mins against activations of +-127: the
// kernels' int16 partial sums (4 products: 4 * 31 * 127) at their limit.
TEST(QuantDot, KQuantSumsAtTheirLimits) {
  constexpr uint16_t kOne = 0x3c00;  // 1.0 as a half float
  for (DType t : {DType::Q4_K, DType::Q5_K}) {
    std::vector<unsigned char> w(3 * dtype_block_bytes(t), 0xff);  // levels 15 or 31, scales and mins 63
    for (int b = 0; b < 3; ++b) {
      unsigned char* block = w.data() + b * dtype_block_bytes(t);
      std::memcpy(block, &kOne, 2);      // d
      std::memcpy(block + 2, &kOne, 2);  // dmin
    }
    for (float sign : {1.0f, -1.0f}) {
      std::vector<float> x(4 * 3 * 256, sign);
      check_dot(t, w.data(), x, 3);
    }
  }
}

// Q5_0 and Q8_0 at their extreme levels (0 and 31; -128 and 127, which GGML's int8 allows)
// against activations of +-127: every product and block sum at its extreme.
TEST(QuantDot, Q32LevelsAtTheirLimits) {
  constexpr uint16_t kOne = 0x3c00;  // 1.0 as a half float
  for (DType t : {DType::Q5_0, DType::Q8_0}) {
    for (unsigned char level : {0x00, 0x7f, 0x80, 0xff}) {  // Q5_0: 0x00 level 0, 0xff level 31
      std::vector<unsigned char> w(3 * dtype_block_bytes(t), level);
      for (int b = 0; b < 3; ++b) std::memcpy(w.data() + b * dtype_block_bytes(t), &kOne, 2);
      for (float sign : {1.0f, -1.0f}) {
        std::vector<float> x(4 * 3 * 32, sign);
        check_dot(t, w.data(), x, 3);
      }
    }
  }
}

// The VNNI prefill kernel (weight panels of 32 rows in two halves, activation tiles of 4 rows,
// K in spans of 512) against the scalar dot kernel on the same int8 activations: equal up to
// float rounding. Row counts straddle the panel, half and tile sizes, K the spans; the weight
// rows are longer than K.
TEST(QuantGemm, VnniPanelsMatchScalar) {
  if (!quant::dot_isa_supported(quant::DotIsa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI";
  for (DType t : kWeightTypes) {
    const quant::avx512vnni::GemmFn gemm = quant::avx512vnni::gemm_kernel(t).run;
    if (!gemm) continue;
    const int64_t block = static_cast<int64_t>(dtype_block_elems(t));
    for (const auto [m, n_rows, k] : {std::array<int64_t, 3>{1, 16, block}, {9, 17, 3 * block}, {13, 35, 2 * std::max<int64_t>(block, 128)},
                                      {48, 15, 5 * block}, {8, 33, block * (block == 32 ? 19 : 3)}}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(t) << " m=" << m << " N=" << n_rows << " K=" << k);
      QuantMatrix w(t, n_rows, k + block, 50 + static_cast<uint32_t>(m));
      std::vector<float> x = gaussian(m * k, 51);
      x[3] = 30.0f;  // one large activation per block
      const size_t act = quant::act_row_bytes(t, k);
      std::vector<unsigned char> xq(m * act);
      for (int64_t i = 0; i < m; ++i) quant::quantize_act_row(t, x.data() + i * k, xq.data() + i * act, k);
      std::vector<float> y(m * n_rows, NAN), wf = w.dequantized();
      gemm(m, xq.data(), act, w.bytes.data(), row_bytes(t, k + block), n_rows, k, y.data());
      for (int64_t i = 0; i < m; ++i)
        for (int64_t n = 0; n < n_rows; ++n) {
          float want;
          quant::scalar::dot_kernel(t)(k / block, w.bytes.data() + n * row_bytes(t, k + block), xq.data() + i * act, act, 1, &want, 1);
          double mag = 0;
          for (int64_t c = 0; c < k; ++c) mag += std::fabs(double(wf[n * (k + block) + c]) * x[i * k + c]);
          ASSERT_NEAR(y[i * n_rows + n], want, 1e-5 * mag + 1e-6) << "row " << i << " col " << n;
        }
    }
  }
}

TEST(QuantDot, ActivationQuantizersAgreeByteForByte) {
  std::vector<float> x = gaussian(1408, 3);
  x[100] = 1e-30f;  // tiny and huge values, and an all-zero block
  x[5] = -300.0f;
  std::fill(x.begin() + 512, x.begin() + 768, 0.0f);
  // 1408 values (V2-Lite's expert width): 44 blocks of 32, not a multiple of the 16 whose sums
  // the AVX-512 quantizer takes at once.
  for (auto [t, k] : {std::pair{DType::Q8_0, 1024}, {DType::Q8_0, 1408}, {DType::Q4_K, 1024}, {DType::Q6_K, 1024}}) {
    const size_t bytes = quant::act_row_bytes(t, k);
    std::vector<unsigned char> want(bytes), got(bytes);
    quant::scalar::quantize_act_row(t, x.data(), want.data(), k);
    for (quant::DotIsa isa : {quant::DotIsa::Avx2, quant::DotIsa::Avx512Bw, quant::DotIsa::Avx512Vnni}) {
      if (!quant::dot_isa_supported(isa)) continue;
      std::fill(got.begin(), got.end(), 0xAA);
      quant::act_quantizer(isa)(t, x.data(), got.data(), k);
      EXPECT_EQ(got, want) << dtype_name(t) << " " << k << " " << quant::dot_isa_name(isa);
    }
  }
}

// Q4_K's and Q5_K's activations hold the levels that Q6_K's hold in value order, with each
// 32-value sub-block moved to its q8k_slot (0, 2, 1, 3, ...); scales and sums unchanged.
TEST(QuantDot, PairedActivationsHoldEachSubBlockAtItsSlot) {
  const std::vector<float> x = gaussian(512, 4);
  const size_t bytes = quant::act_row_bytes(DType::Q6_K, 512);
  std::vector<BlockQ8_K> in_order(2), paired(2);
  ASSERT_EQ(bytes, sizeof(BlockQ8_K) * 2);
  quant::quantize_act_row(DType::Q6_K, x.data(), in_order.data(), 512);
  for (DType t : {DType::Q4_K, DType::Q5_K}) {
    quant::quantize_act_row(t, x.data(), paired.data(), 512);
    EXPECT_EQ(quant::q8k_slot(t, 1), 2);
    for (int b = 0; b < 2; ++b) {
      EXPECT_EQ(paired[b].d, in_order[b].d);
      EXPECT_EQ(0, std::memcmp(paired[b].bsums, in_order[b].bsums, sizeof paired[b].bsums));
      for (int s = 0; s < 8; ++s)
        EXPECT_EQ(0, std::memcmp(paired[b].qs + 32 * quant::q8k_slot(t, s), in_order[b].qs + 32 * s, 32)) << dtype_name(t) << " sub-block " << s;
    }
  }
}

// quant_matmul against the F32 product of the dequantized weights. The only difference is the
// activations' int8 rounding: each x_k moves by e_k, |e_k| <= d_k / 2 with d_k = (its block's
// max |x|) / 127, roughly uniform and independent, so y_n moves by Σ_k w_nk e_k with standard
// deviation σ_n = sqrt(Σ_k w_nk² d_k² / 12). Allow 6σ plus float rounding.
void check_matmul(DType t, int64_t m, int64_t n_rows, int64_t k, int64_t stride, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << dtype_name(t) << " m=" << m << " N=" << n_rows << " K=" << k);
  QuantMatrix w(t, n_rows, k, seed, stride);
  std::vector<float> wf = w.dequantized();
  std::vector<float> x = gaussian(m * k, seed + 1);
  const int64_t block = quant::uses_q8k(t) ? 256 : 32;
  std::vector<float> step(m * k);  // d_k of each activation
  for (int64_t i = 0; i < m * k; i += block) {
    float amax = 0;
    for (int64_t j = i; j < i + block; ++j) amax = std::max(amax, std::fabs(x[j]));
    std::fill(step.begin() + i, step.begin() + i + block, amax / 127);
  }
  std::vector<float> y(m * n_rows, NAN);
  quant_matmul(x.data(), m, w.weight(), y.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t n = 0; n < n_rows; ++n) {
      double ref = 0, var = 0, mag = 0;
      for (int64_t c = 0; c < k; ++c) {
        double wv = wf[n * k + c], xv = x[i * k + c], d = step[i * k + c];
        ref += wv * xv;
        var += wv * wv * d * d / 12;
        mag += std::fabs(wv * xv);
      }
      const double bound = 6 * std::sqrt(var) + 1e-5 * mag;
      ASSERT_NEAR(y[i * n_rows + n], ref, bound) << "row " << i << " col " << n;
    }
}

TEST(QuantMatmul, MatchesDequantizedF32WithinActivationRounding) {
  for_each_isa([] {
    for (DType t : kWeightTypes) {
      const int64_t k = dtype_block_elems(t) == 32 ? 32 * 7 : 256 * 3;
      check_matmul(t, 1, 37, k, k, 10);
      check_matmul(t, 3, 5, k, k, 11);
    }
  });
}

// Many activation rows take the tiled path (weight tiles of 16 rows reused by row groups of 4,
// activation rows in chunks of 64) or, on AVX-512 VNNI, the panel kernel; with partial tiles and
// groups at the ends, and a weight view whose rows are longer than K.
TEST(QuantMatmul, TiledPathAndStridedRows) {
  for_each_isa([] {
    for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q4_0, DType::Q3_K}) {
      const int64_t block = static_cast<int64_t>(dtype_block_elems(t));
      check_matmul(t, 13, 35, 2 * std::max<int64_t>(block, 128), 0, 20);
      check_matmul(t, 6, 18, block * 2, block * 3, 21);
      check_matmul(t, 70, 9, block * 2, 0, 22);
    }
  });
}

// The error against exact F32 on realistic shapes, relative to the output's RMS: what the
// int8 activations cost (documented in quant_matmul.h).
TEST(QuantMatmul, RelativeErrorOnGaussianData) {
  for (DType t : {DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t k = 2048, n_rows = 64;
    QuantMatrix w(t, n_rows, k, 30);
    std::vector<float> wf = w.dequantized(), x = gaussian(k, 31), y(n_rows);
    quant_matmul(x.data(), 1, w.weight(), y.data());
    double err = 0, ref2 = 0;
    for (int64_t n = 0; n < n_rows; ++n) {
      double ref = 0;
      for (int64_t c = 0; c < k; ++c) ref += double(wf[n * k + c]) * x[c];
      err += (y[n] - ref) * (y[n] - ref);
      ref2 += ref * ref;
    }
    // Per element the rounding is d/√12 with d = max|x|/127, max|x| ≈ 2.1σ over 32 values or
    // 2.9σ over 256: about 0.5% or 0.7% of σ, and so of the output's RMS (measured: 0.49% for
    // Q8_0, 0.8% for Q4_K and Q6_K). 1% leaves room for the sample.
    EXPECT_LT(std::sqrt(err / ref2), 0.01) << dtype_name(t);
    RecordProperty(std::string(dtype_name(t)), std::to_string(std::sqrt(err / ref2)));
  }
}

TEST(QuantMatmul, SlicedRowsAndDequantize) {
  QuantMatrix w(DType::Q4_K, 10, 512, 40);
  std::vector<float> full = w.dequantized();
  Weight view = w.weight().slice_rows(3, 5);
  std::vector<float> rows(2 * 512);
  quant_dequantize_rows(view, 1, 2, rows.data());
  for (int i = 0; i < 2 * 512; ++i) ASSERT_EQ(rows[i], full[4 * 512 + i]);
  EXPECT_THROW(quant_dequantize_rows(view, 4, 2, rows.data()), Error);

  std::vector<float> x = gaussian(512, 41), y(5), ref(5);
  quant_matmul(x.data(), 1, view, y.data());
  for (int n = 0; n < 5; ++n) {
    double s = 0;
    for (int c = 0; c < 512; ++c) s += double(full[(3 + n) * 512 + c]) * x[c];
    EXPECT_NEAR(y[n], s, 0.05 * std::sqrt(512.0)) << n;
  }
}

TEST(QuantMatmul, MatmulRowsMatchesDequantized) {
  for (DType t : {DType::Q8_0, DType::Q6_K}) {
    const int64_t n_rows = 7, k = 512, m = 3;
    QuantMatrix w(t, n_rows, k, 50);
    std::vector<float> wf = w.dequantized(), x = gaussian(m * n_rows, 51), y(m * k);
    quant_matmul_rows(x.data(), m, w.weight(), y.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < k; ++c) {
        double s = 0;
        for (int64_t n = 0; n < n_rows; ++n) s += double(x[i * n_rows + n]) * wf[n * k + c];
        ASSERT_NEAR(y[i * k + c], s, 1e-4) << dtype_name(t) << " " << i << " " << c;
      }
  }
}

TEST(QuantMatmul, RejectsWhatItCannotRun) {
  std::vector<float> x(256), y(4);
  std::vector<unsigned char> bytes(4096);
  Weight bf16{.dtype = DType::BF16, .rows = 1, .cols = 256, .data = bytes.data(), .row_stride = 256};
  EXPECT_THROW(quant_matmul(x.data(), 1, bf16, y.data()), Error);
  Weight q8k{.dtype = DType::Q8_K, .rows = 1, .cols = 256, .data = bytes.data(), .row_stride = 256};
  EXPECT_THROW(quant_matmul(x.data(), 1, q8k, y.data()), Error);
  Weight partial{.dtype = DType::Q4_K, .rows = 1, .cols = 128, .data = bytes.data(), .row_stride = 128};
  EXPECT_THROW(quant_matmul(x.data(), 1, partial, y.data()), Error);
}

}  // namespace
}  // namespace dseek
