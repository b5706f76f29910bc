#include "kernels/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

}  // namespace
}  // namespace dseek
