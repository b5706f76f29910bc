#include "kernels/matmul.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/thread_pool.h"
#include "util/error.h"

namespace dseek {
namespace {

std::vector<Isa> available_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) isas.push_back(isa);
  return isas;
}

// Exact F32 kernels during a test (whatever DSEEK_BF16_ACTIVATIONS says); restores the instruction
// set in use and the BF16 activations setting after it.
class IsaScope {
 public:
  IsaScope() : saved_isa_(active_isa()), saved_bf16_(bf16_activations()) { set_bf16_activations(false); }
  ~IsaScope() {
    set_isa(saved_isa_);
    set_bf16_activations(saved_bf16_);
  }

 private:
  Isa saved_isa_;
  bool saved_bf16_;
};

// A random weight in its stored format, with the exact F32 value of every element.
struct TestWeight {
  std::vector<uint8_t> storage;
  std::vector<float> scales;
  std::vector<float> values;  // [rows, cols], dense
  Weight weight;
};

// stride >= cols: elements from one row to the next; FP8 uses block_rows x block_cols scales.
TestWeight make_weight(DType dtype, int64_t rows, int64_t cols, int64_t stride, std::mt19937& rng,
                       int64_t block_rows = 128, int64_t block_cols = 128) {
  TestWeight t;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  size_t elem = dtype == DType::F32 ? 4 : dtype == DType::F8_E4M3 ? 1 : 2;
  t.storage.assign(rows * stride * elem, 0);
  t.values.resize(rows * cols);
  Weight& w = t.weight;
  w.dtype = dtype;
  w.rows = rows;
  w.cols = cols;
  w.row_stride = stride;
  if (dtype == DType::F8_E4M3) {
    w.block_rows = block_rows;
    w.block_cols = block_cols;
    w.scale_cols = (cols + block_cols - 1) / block_cols;
    std::uniform_real_distribution<float> scale(0.5e-2f, 2e-2f);
    t.scales.resize(((rows + block_rows - 1) / block_rows) * w.scale_cols);
    for (float& s : t.scales) s = scale(rng);
    w.block_scale = t.scales.data();
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      uint8_t* at = t.storage.data() + (r * stride + c) * elem;
      float v = normal(rng);
      switch (dtype) {
        case DType::F32:
          std::memcpy(at, &v, 4);
          break;
        case DType::F16: {
          uint16_t bits = f32_to_f16(v);
          std::memcpy(at, &bits, 2);
          v = f16_to_f32(bits);
          break;
        }
        case DType::BF16: {
          uint16_t bits = f32_to_bf16(v);
          std::memcpy(at, &bits, 2);
          v = bf16_to_f32(bits);
          break;
        }
        case DType::F8_E4M3: {
          // Every code but the NaNs (0x7f, 0xff): subnormals and the extremes included.
          uint8_t bits;
          do bits = static_cast<uint8_t>(rng()); while ((bits & 0x7f) == 0x7f);
          *at = bits;
          v = e4m3_to_f32(bits) * t.scales[(r / block_rows) * w.scale_cols + c / block_cols];
          break;
        }
        default:
          ADD_FAILURE() << "no such test dtype";
      }
      t.values[r * cols + c] = v;
    }
  }
  w.data = t.storage.data();
  return t;
}

// NaNs between the rows (all of a row's stride past its width), which reach y if a kernel reads
// past the end of a row. FP8 has no NaN code that its SIMD kernels load as NaN.
void poison_row_padding(TestWeight& t) {
  const Weight& w = t.weight;
  if (w.dtype == DType::F8_E4M3) return;
  const size_t elem = t.storage.size() / (w.rows * w.row_stride);
  for (int64_t r = 0; r < w.rows; ++r)
    std::memset(&t.storage[(r * w.row_stride + w.cols) * elem], 0xff, (w.row_stride - w.cols) * elem);
}

std::vector<float> random_vector(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& a : v) a = normal(rng);
  return v;
}

// A bound on the error of any F32 evaluation order of sum_k a_k b_k, rounded products and
// scalings included: (K + 4) u sum |a_k b_k|, doubled for slack.
double f32_bound(int64_t K, double abs_sum) { return 2.0 * (K + 4) * std::ldexp(1.0, -24) * abs_sum; }

// Checks y = x · valuesᵀ (rows [row0, row0 + N) of values) against double precision, and
// against the scalar kernels' result when given.
void expect_matmul(const std::vector<float>& x, int64_t m, const TestWeight& t, int64_t row0, const Weight& w,
                   const std::vector<float>& y, const std::vector<float>* scalar_y) {
  const int64_t N = w.rows, K = w.cols;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t n = 0; n < N; ++n) {
      double exact = 0, abs_sum = 0;
      for (int64_t k = 0; k < K; ++k) {
        double p = static_cast<double>(x[i * K + k]) * t.values[(row0 + n) * K + k];
        exact += p;
        abs_sum += std::fabs(p);
      }
      double bound = f32_bound(K, abs_sum);
      ASSERT_NEAR(y[i * N + n], exact, bound) << "row " << i << " col " << n;
      if (scalar_y) {
        ASSERT_NEAR(y[i * N + n], (*scalar_y)[i * N + n], 2 * bound) << "row " << i << " col " << n;
      }
    }
  }
}

std::string case_name(Isa isa, DType dtype, int64_t m, int64_t N, int64_t K) {
  return std::string(isa_name(isa)) + " " + std::string(dtype_name(dtype)) + " m=" + std::to_string(m) +
         " N=" + std::to_string(N) + " K=" + std::to_string(K);
}

const DType kDtypes[] = {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3};

struct Shape {
  int64_t N, K;
};

// Odd sizes: partial vectors, partial panels and FP8 blocks, several depth and column blocks.
const Shape kShapes[] = {{37, 100}, {130, 300}, {5, 33}, {600, 40}};
const int64_t kRows[] = {1, 3, 17, 64, 129};

TEST(Matmul, EveryDtypeIsaAndShape) {
  IsaScope scope;
  std::mt19937 rng(1);
  for (DType dtype : kDtypes) {
    for (Shape shape : kShapes) {
      TestWeight t = make_weight(dtype, shape.N, shape.K, shape.K, rng);
      for (int64_t m : kRows) {
        if (m * shape.N * shape.K > 4'000'000) continue;  // keeps the double reference quick
        std::vector<float> x = random_vector(m * shape.K, rng);
        set_isa(Isa::Scalar);
        std::vector<float> scalar_y(m * shape.N);
        matmul(x.data(), m, t.weight, scalar_y.data());
        for (Isa isa : available_isas()) {
          SCOPED_TRACE(case_name(isa, dtype, m, shape.N, shape.K));
          set_isa(isa);
          std::vector<float> y(m * shape.N, NAN);
          matmul(x.data(), m, t.weight, y.data());
          expect_matmul(x, m, t, 0, t.weight, y, &scalar_y);
        }
      }
    }
  }
}

TEST(Matmul, PrefillBlocks) {
  IsaScope scope;
  std::mt19937 rng(9);
  // A long K packs few weight rows at a time; many rows of x take several row blocks.
  struct Case {
    int64_t m, N, K;
  };
  for (Case c : {Case{70, 100, 5000}, Case{150, 40, 300}, Case{150, 600, 40}}) {
    for (DType dtype : {DType::BF16, DType::F8_E4M3}) {
      TestWeight t = make_weight(dtype, c.N, c.K, c.K, rng);
      std::vector<float> x = random_vector(c.m * c.K, rng);
      for (Isa isa : available_isas()) {
        SCOPED_TRACE(case_name(isa, dtype, c.m, c.N, c.K));
        set_isa(isa);
        std::vector<float> y(c.m * c.N, NAN);
        matmul(x.data(), c.m, t.weight, y.data());
        expect_matmul(x, c.m, t, 0, t.weight, y, nullptr);
      }
    }
  }
}

TEST(Matmul, RowSlicesAndPaddedRows) {
  IsaScope scope;
  std::mt19937 rng(2);
  for (DType dtype : kDtypes) {
    // 300 rows stored 310 elements apart; the slice starts inside an FP8 row block.
    TestWeight t = make_weight(dtype, 300, 290, 310, rng);
    Weight slice = t.weight.slice_rows(37, 200);
    for (int64_t m : {1, 2, 5, 40, 70}) {
      std::vector<float> x = random_vector(m * 290, rng);
      for (Isa isa : available_isas()) {
        SCOPED_TRACE(case_name(isa, dtype, m, 200, 290));
        set_isa(isa);
        std::vector<float> y(m * 200, NAN);
        matmul(x.data(), m, slice, y.data());
        expect_matmul(x, m, t, 37, slice, y, nullptr);
      }
    }
  }
}

TEST(Matmul, Fp8BlockShapes) {
  IsaScope scope;
  std::mt19937 rng(3);
  // 64 x 32 blocks take the SIMD kernels; 16 x 24 ones (columns not a multiple of 16) the scalar.
  for (auto [block_rows, block_cols] : {std::pair<int64_t, int64_t>{64, 32}, {16, 24}}) {
    TestWeight t = make_weight(DType::F8_E4M3, 150, 200, 200, rng, block_rows, block_cols);
    Weight slice = t.weight.slice_rows(5, 140);
    for (int64_t m : {1, 4, 30, 80}) {
      std::vector<float> x = random_vector(m * 200, rng);
      for (Isa isa : available_isas()) {
        SCOPED_TRACE(case_name(isa, DType::F8_E4M3, m, 140, 200) + " block " + std::to_string(block_cols));
        set_isa(isa);
        std::vector<float> y(m * 140, NAN);
        matmul(x.data(), m, slice, y.data());
        expect_matmul(x, m, t, 5, slice, y, nullptr);
      }
    }
  }
}

TEST(Matmul, UnevenThreadCounts) {
  IsaScope scope;
  std::mt19937 rng(4);
  TestWeight t = make_weight(DType::BF16, 203, 160, 160, rng);
  for (int threads : {1, 3, 5}) {
    ThreadPool::set_global_threads(threads);
    for (int64_t m : {1, 2, 33, 90}) {
      std::vector<float> x = random_vector(m * 160, rng);
      for (Isa isa : available_isas()) {
        SCOPED_TRACE(case_name(isa, DType::BF16, m, 203, 160) + " threads " + std::to_string(threads));
        set_isa(isa);
        std::vector<float> y(m * 203, NAN);
        matmul(x.data(), m, t.weight, y.data());
        expect_matmul(x, m, t, 0, t.weight, y, nullptr);
      }
    }
  }
  ThreadPool::set_global_threads(physical_cores());
}

// A gathered input of a float weight holds copies of the chosen rows: its products are matmul's
// on those rows, bit for bit, after the source rows change.
TEST(Matmul, GatheredInputCopiesFloatRows) {
  std::mt19937 rng(6);
  TestWeight t = make_weight(DType::BF16, 40, 64, 64, rng);
  std::vector<float> x = random_vector(5 * 64, rng);
  const std::vector<int64_t> rows{4, 0, 4};
  std::vector<float> xs(3 * 64), want(3 * 40), got(3 * 40, NAN);
  for (int i = 0; i < 3; ++i) std::copy_n(x.data() + rows[i] * 64, 64, xs.data() + i * 64);
  matmul(xs.data(), 3, t.weight, want.data());
  const MatmulInput gathered(MatmulInput(x.data(), 5, t.weight), rows);
  std::fill(x.begin(), x.end(), 0.0f);
  gathered.multiply(t.weight, got.data());
  EXPECT_EQ(got, want);
  EXPECT_THROW(MatmulInput(MatmulInput(x.data(), 5, t.weight), std::vector<int64_t>{5}), Error);
}

// Decode's pieces: 64 KiB for small products, about 16 per thread for larger ones, at most 1 MiB.
TEST(Matmul, MatvecPiecesGrowWithTheProduct) {
  for (int threads : {1, 2, 8}) {
    ThreadPool::set_global_threads(threads);
    EXPECT_EQ(matvec_piece_bytes(4096), 64 << 10);
    EXPECT_EQ(matvec_piece_bytes(int64_t{16} * threads * (200 << 10)), 200 << 10) << threads << " threads";
    EXPECT_EQ(matvec_piece_bytes(int64_t{1} << 40), 1 << 20);
  }
  ThreadPool::set_global_threads(physical_cores());
}

TEST(Matmul, EmptyShapes) {
  IsaScope scope;
  std::mt19937 rng(5);
  TestWeight no_cols = make_weight(DType::BF16, 20, 0, 0, rng);
  for (Isa isa : available_isas()) {
    set_isa(isa);
    std::vector<float> x(3), y(3 * 20, NAN);
    matmul(x.data(), 3, no_cols.weight, y.data());
    for (float v : y) EXPECT_EQ(v, 0.0f);
    matmul(x.data(), 0, no_cols.weight, y.data());
  }
}

TEST(Matmul, RejectsUnsupportedWeights) {
  std::vector<float> x(4), y(4);
  Weight w;
  w.dtype = DType::I32;
  w.rows = w.cols = w.row_stride = 2;
  w.data = x.data();
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), Error);
  w.dtype = DType::F8_E4M3;  // no block scales
  EXPECT_THROW(matmul(x.data(), 1, w, y.data()), Error);
}

TEST(Matmul, Bf16ActivationsAreOptInAndClose) {
  if (!isa_supported(Isa::Avx512) || !cpu_features().avx512bf16) GTEST_SKIP() << "no AVX512-BF16";
  if (!std::getenv("DSEEK_BF16_ACTIVATIONS")) {
    EXPECT_FALSE(bf16_activations());  // opt-in
  }
  IsaScope scope;
  set_isa(Isa::Avx512);
  std::mt19937 rng(8);
  for (DType dtype : kDtypes) {
    // K = 1000 ends in a part of a 32-value step; strides past K catch rows read as packed.
    for (Shape shape : {Shape{130, 300}, Shape{37, 33}, Shape{9, 1000}}) {
      const int64_t stride = shape.K + 5;
      TestWeight t = make_weight(dtype, shape.N, shape.K, stride, rng);
      poison_row_padding(t);
      for (int64_t m : {1, 2, 7, 16, 70, 100}) {
        SCOPED_TRACE(case_name(Isa::Avx512, dtype, m, shape.N, shape.K) + " bf16");
        std::vector<float> x = random_vector(m * shape.K, rng), y(m * shape.N, NAN), exact_y(m * shape.N, NAN);
        set_bf16_activations(false);
        matmul(x.data(), m, t.weight, exact_y.data());
        set_bf16_activations(true);
        matmul(x.data(), m, t.weight, y.data());
        // Each product is off by the roundings of x and W to BF16 (2^-8 each) at most; F32
        // weights stay exact.
        const bool rounded = dtype == DType::BF16 || (dtype != DType::F32 && m > 64);
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t n = 0; n < shape.N; ++n) {
            double exact = 0, abs_sum = 0;
            for (int64_t k = 0; k < shape.K; ++k) {
              double p = static_cast<double>(x[i * shape.K + k]) * t.values[n * shape.K + k];
              exact += p;
              abs_sum += std::fabs(p);
            }
            double bound = f32_bound(shape.K, abs_sum) + (rounded ? std::ldexp(abs_sum, -7) : 0.0);
            ASSERT_NEAR(y[i * shape.N + n], exact, bound) << "row " << i << " col " << n;
          }
        }
        EXPECT_EQ(y != exact_y, rounded);
      }
    }
  }
}

// With BF16 activations, BF16 weights give each row of x the same bits in a batch of up to 64
// rows as alone: a sequence's logits do not depend on the others decoded beside it.
TEST(Matmul, Bf16ActivationsGiveEachRowTheSameBitsInAnyBatch) {
  if (!isa_supported(Isa::Avx512) || !cpu_features().avx512bf16) GTEST_SKIP() << "no AVX512-BF16";
  IsaScope scope;
  set_isa(Isa::Avx512);
  set_bf16_activations(true);
  std::mt19937 rng(9);
  const int64_t N = 67, K = 1000;
  TestWeight t = make_weight(DType::BF16, N, K, K, rng);
  std::vector<float> x = random_vector(64 * K, rng), batch(64 * N), alone(N);
  for (int64_t m : {2, 6, 7, 64}) {
    matmul(x.data(), m, t.weight, batch.data());
    for (int64_t i = 0; i < m; ++i) {
      matmul(x.data() + i * K, 1, t.weight, alone.data());
      ASSERT_EQ(0, std::memcmp(alone.data(), batch.data() + i * N, N * sizeof(float))) << "row " << i << " of " << m;
    }
  }
}

// Output (i, k) of y = x · values (values [N, K]) in double precision, and the sum of its
// products' magnitudes.
struct ExactSum {
  double value = 0, abs_sum = 0;
};
ExactSum rows_product(const std::vector<float>& x, const TestWeight& t, int64_t i, int64_t k) {
  const int64_t N = t.weight.rows, K = t.weight.cols;
  ExactSum e;
  for (int64_t n = 0; n < N; ++n) {
    double p = static_cast<double>(x[i * N + n]) * t.values[n * K + k];
    e.value += p;
    e.abs_sum += std::fabs(p);
  }
  return e;
}

// Checks y = x · values against double precision and the scalar kernels.
void expect_matmul_rows(const std::vector<float>& x, int64_t m, const TestWeight& t, const std::vector<float>& y,
                        const std::vector<float>& scalar_y) {
  const int64_t N = t.weight.rows, K = t.weight.cols;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t k = 0; k < K; ++k) {
      const ExactSum e = rows_product(x, t, i, k);
      double bound = f32_bound(N, e.abs_sum);
      ASSERT_NEAR(y[i * K + k], e.value, bound) << "row " << i << " col " << k;
      ASSERT_NEAR(y[i * K + k], scalar_y[i * K + k], 2 * bound) << "row " << i << " col " << k;
    }
  }
}

TEST(Matmul, RowsEveryDtypeIsaAndShape) {
  IsaScope scope;
  std::mt19937 rng(6);
  for (DType dtype : kDtypes) {
    for (Shape shape : {Shape{37, 100}, Shape{130, 300}, Shape{300, 16}, Shape{5, 33}}) {
      TestWeight t = make_weight(dtype, shape.N, shape.K, shape.K + 3, rng);
      for (int64_t m : {1, 3, 16, 29}) {
        std::vector<float> x = random_vector(m * shape.N, rng);
        set_isa(Isa::Scalar);
        std::vector<float> scalar_y(m * shape.K);
        matmul_rows(x.data(), m, t.weight, scalar_y.data());
        for (Isa isa : available_isas()) {
          SCOPED_TRACE(case_name(isa, dtype, m, shape.N, shape.K) + " rows");
          set_isa(isa);
          std::vector<float> y(m * shape.K, NAN);
          matmul_rows(x.data(), m, t.weight, y.data());
          expect_matmul_rows(x, m, t, y, scalar_y);
        }
      }
    }
  }
}

// matmul_rows with BF16 activations: BF16 weights pair their rows in vdpbf16ps (odd N leaves one
// alone), whose accumulators hold the columns out of order; the other types stay exact.
TEST(Matmul, RowsBf16ActivationsAreClose) {
  if (!isa_supported(Isa::Avx512) || !cpu_features().avx512bf16) GTEST_SKIP() << "no AVX512-BF16";
  IsaScope scope;
  set_isa(Isa::Avx512);
  std::mt19937 rng(10);
  for (DType dtype : kDtypes) {
    for (Shape shape : {Shape{37, 100}, Shape{256, 512}, Shape{300, 16}, Shape{5, 33}, Shape{1, 40}}) {
      const int64_t stride = shape.K + 3;
      TestWeight t = make_weight(dtype, shape.N, shape.K, stride, rng);
      poison_row_padding(t);
      for (int64_t m : {1, 3, 16, 29}) {
        SCOPED_TRACE(case_name(Isa::Avx512, dtype, m, shape.N, shape.K) + " rows bf16");
        std::vector<float> x = random_vector(m * shape.N, rng), y(m * shape.K, NAN), exact_y(m * shape.K, NAN);
        set_bf16_activations(false);
        matmul_rows(x.data(), m, t.weight, exact_y.data());
        set_bf16_activations(true);
        matmul_rows(x.data(), m, t.weight, y.data());
        const bool rounded = dtype == DType::BF16;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t k = 0; k < shape.K; ++k) {
            const ExactSum e = rows_product(x, t, i, k);
            double bound = f32_bound(shape.N, e.abs_sum) + (rounded ? std::ldexp(e.abs_sum, -8) : 0.0);
            ASSERT_NEAR(y[i * shape.K + k], e.value, bound) << "row " << i << " col " << k;
          }
        }
        EXPECT_EQ(y != exact_y, rounded);
      }
    }
  }
}

// round_to_bf16 rounds as f32_to_bf16 does (to nearest, ties to even) on every instruction set,
// over lengths with and without a partial vector at the end.
TEST(Matmul, RoundToBf16MatchesTheScalarRounding) {
  IsaScope scope;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    set_isa(isa);
    for (int64_t n : {1, 31, 32, 33, 100, 1000}) {
      std::vector<float> x(n);
      for (float& v : x) v = uniform(rng);
      x[0] = bf16_to_f32(0x3f81) + 0x1p-8f;  // halfway between 0x3f81 and 0x3f82: to the even one
      std::vector<uint16_t> got(n + 1, 0xdead);
      round_to_bf16(x.data(), n, got.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], f32_to_bf16(x[i])) << "isa " << static_cast<int>(isa) << ", n " << n << ", value " << i;
      EXPECT_EQ(got[n], 0xdead) << "wrote past n = " << n;
    }
  }
}

TEST(Matmul, DequantizeIsExact) {
  IsaScope scope;
  std::mt19937 rng(7);
  for (DType dtype : kDtypes) {
    TestWeight t = make_weight(dtype, 260, 150, 157, rng);
    Weight slice = t.weight.slice_rows(3, 250);
    for (Isa isa : available_isas()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(dtype_name(dtype)));
      set_isa(isa);
      std::vector<float> out(240 * 150, NAN);
      dequantize_rows(slice, 7, 240, out.data());
      for (int64_t r = 0; r < 240; ++r)
        for (int64_t c = 0; c < 150; ++c) ASSERT_EQ(out[r * 150 + c], t.values[(10 + r) * 150 + c]) << r << ", " << c;
    }
  }
  TestWeight small = make_weight(DType::F32, 4, 4, 4, rng);
  std::vector<float> out(16);
  EXPECT_THROW(dequantize_rows(small.weight, 2, 3, out.data()), Error);
}

}  // namespace
}  // namespace dseek
