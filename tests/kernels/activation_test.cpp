#include "kernels/activation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu.h"

namespace dseek {
namespace {

// silu(g) * u against the formula in double, on every instruction set this CPU has.
TEST(Activation, SiluMulMatchesTheFormula) {
  std::vector<float> g, u;
  for (float x = -120.0f; x <= 120.0f; x += 0.0137f) {
    g.push_back(x);
    u.push_back(1.0f + x / 7.0f);
  }
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.5f, -88.5f, 103.0f, -103.0f}) {
    g.push_back(x);
    u.push_back(-2.5f);
  }
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    set_isa(isa);
    // Odd lengths reach the vector tails.
    for (size_t n : {g.size(), size_t{13}, size_t{1}}) {
      std::vector<float> out(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(n));
      silu_mul(out.data(), u.data(), static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i) {
        double x = g[i], expected = x / (1.0 + std::exp(-x)) * u[i];
        // Below about -88, exp(-g) overflows in float and silu(g) comes out as -0: absolute 1e-30.
        EXPECT_NEAR(out[i], expected, 4e-7 * std::abs(expected) + 1e-30)
            << isa_name(isa) << " at g = " << g[i] << ", u = " << u[i];
      }
    }
  }
  set_isa(best_isa());
}

TEST(Activation, SiluMulAtInfinities) {
  const float inf = std::numeric_limits<float>::infinity();
  for (Isa isa : {Isa::Scalar, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    set_isa(isa);
    std::vector<float> g{inf, -inf, std::nanf("")}, u{2.0f, 2.0f, 2.0f};
    silu_mul(g.data(), u.data(), 3);
    EXPECT_EQ(g[0], inf) << isa_name(isa);  // silu(x) -> x
    EXPECT_TRUE(std::isnan(g[1])) << isa_name(isa);  // -inf / inf, as the formula gives
    EXPECT_TRUE(std::isnan(g[2])) << isa_name(isa);
  }
  set_isa(best_isa());
}

// Attention's softmax computed block by block, against the formula in double: over lengths
// that reach the vector tails, blocks whose largest score is below, above or equal to the
// running one, and rows whose small terms underflow to 0.
TEST(Activation, SoftmaxBlocksMatchTheFormula) {
  std::vector<float> row;
  for (int i = 0; i < 700; ++i) row.push_back(std::sin(0.37f * i) * (i % 7 == 0 ? 900.0f : 25.0f));
  const float scale = 0.0883883f;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    set_isa(isa);
    for (size_t n : {size_t{1}, size_t{13}, size_t{16}, size_t{17}, size_t{64}, size_t{700}}) {
      for (size_t block : {size_t{5}, size_t{16}, size_t{64}, n}) {
        // Each block's terms are relative to the max after it; rescaled to the last one here.
        std::vector<float> s(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(n)), block_max;
        float max = -std::numeric_limits<float>::infinity(), sum = 0;
        for (size_t b = 0; b < n; b += block) {
          const float before = max;
          const float added = softmax_block(s.data() + b, static_cast<int64_t>(std::min(block, n - b)), scale, max);
          sum = sum * std::exp(before - max) + added;
          block_max.push_back(max);
        }
        double expected_max = -INFINITY, expected_sum = 0;
        for (size_t i = 0; i < n; ++i) expected_max = std::max(expected_max, static_cast<double>(scale) * row[i]);
        for (size_t i = 0; i < n; ++i) expected_sum += std::exp(static_cast<double>(scale) * row[i] - expected_max);
        EXPECT_NEAR(max, expected_max, 1e-6 * std::abs(expected_max)) << isa_name(isa);
        for (size_t i = 0; i < n; ++i) {
          const double x = static_cast<double>(scale) * row[i], expected = std::exp(x - expected_max) / expected_sum;
          const double p = s[i] * std::exp(static_cast<double>(block_max[i / block]) - max) / sum;
          // Rounding scale · s and its difference from the largest, in float, moves exp's
          // argument by up to an ulp of each; the running sum adds a rounding per block.
          const double argument_error = 1.2e-7 * (std::abs(x) + std::abs(x - expected_max));
          EXPECT_NEAR(p, expected, (2e-6 + argument_error) * expected + 1e-37)
              << isa_name(isa) << " n = " << n << ", block " << block << " at " << i;
        }
      }
    }
  }
  set_isa(best_isa());
}

// RMSNorm's mean square: Σ x² of floats in double, as the sum in order, on every instruction set,
// over lengths that reach the vector tail.
TEST(Activation, SumOfSquaresMatchesTheSumInOrder) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(2051);
  for (float& v : x) v = normal(rng);
  x[20] = 1e19f;  // squares beyond float's range
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    set_isa(isa);
    for (int64_t n : {0, 1, 15, 16, 2048, 2051}) {
      double want = 0;
      for (int64_t i = 0; i < n; ++i) want += static_cast<double>(x[i]) * x[i];
      EXPECT_NEAR(sum_of_squares(x.data(), n), want, 1e-15 * want) << isa_name(isa) << ", n = " << n;
    }
  }
  set_isa(best_isa());
}

}  // namespace
}  // namespace dseek
