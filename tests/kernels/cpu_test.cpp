#include "kernels/cpu.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace dseek {
namespace {

TEST(Cpu, IsaNamesRoundTrip) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  EXPECT_FALSE(parse_isa("sse2"));
}

TEST(Cpu, BestIsaFollowsFeatures) {
  const CpuFeatures& f = cpu_features();
  EXPECT_TRUE(isa_supported(Isa::Scalar));
  EXPECT_EQ(isa_supported(Isa::Avx2), f.avx2 && f.fma && f.f16c);
  EXPECT_EQ(isa_supported(Isa::Avx512), f.avx512f && f.avx512bw && f.avx512vl && f.fma && f.f16c);
  Isa best = best_isa();
  EXPECT_TRUE(isa_supported(best));
  if (isa_supported(Isa::Avx512)) {
    EXPECT_EQ(best, Isa::Avx512);
  }
}

TEST(Cpu, SetIsaForcesAndChecks) {
  Isa saved = active_isa();
  set_isa(Isa::Scalar);
  EXPECT_EQ(active_isa(), Isa::Scalar);
  EXPECT_EQ(isa_summary().rfind("scalar", 0), 0u);
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (isa_supported(isa)) {
      set_isa(isa);
      EXPECT_EQ(active_isa(), isa);
    } else {
      EXPECT_THROW(set_isa(isa), Error);
    }
  }
  set_isa(saved);
}

}  // namespace
}  // namespace dseek
