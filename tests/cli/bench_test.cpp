// `dseek bench` through the real binary, on a one-layer quantized preset.
#include <gtest/gtest.h>

#include "cli_process.h"

namespace dseek::cli_test {
namespace {

TEST(BenchCommand, ReportsRepeatedRatesAndDecodeBandwidth) {
  ProcessResult r = run_dseek({"bench", "--preset", "deepseek-v2-lite", "--dummy", "--layers", "1", "--dtype", "q8_0",
                               "-p", "4", "-g", "3", "-r", "2", "--bandwidth-gib", "0.0625", "-t", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| pp4    |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg3    |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" ± "), std::string::npos) << r.out;
  // One dense layer (13.76M attention and 67.24M MLP weights) and the output head (209.72M),
  // all Q8_0: 34 bytes per 32 weights.
  EXPECT_NE(r.out.find("decode reads 308.9 MB of weights per token"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode bandwidth: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dseek::cli_test
