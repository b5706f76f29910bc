// Helpers shared by the quantization tests.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu.h"

namespace dseek::testing_util {

// n values of N(0, sigma²), the same for the same seed.
inline std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// Runs fn once per instruction set this CPU has, then restores the active one.
template <typename Fn>
void for_each_isa(Fn fn) {
  const Isa saved = active_isa();
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    set_isa(isa);
    SCOPED_TRACE(std::string(isa_name(isa)));
    fn();
  }
  set_isa(saved);
}

}  // namespace dseek::testing_util
