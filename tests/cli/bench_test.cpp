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

// As in llama-bench, a length of 0 skips its test; both 0, or no repetitions, is an error
// before the model loads.
TEST(BenchCommand, ZeroLengthSkipsItsTest) {
  ProcessResult r = run_dseek({"bench", "--preset", "deepseek-v2-lite", "--dummy", "--layers", "1", "--dtype", "q8_0",
                               "-p", "4", "-g", "0", "--bandwidth-gib", "0.0625", "-t", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| pp4    |"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("| tg"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("decode"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;

  ProcessResult none = run_dseek({"bench", "--preset", "deepseek-v2-lite", "--dummy", "-p", "0", "-g", "0"});
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.err.find("both 0"), std::string::npos) << none.err;
  ProcessResult no_runs = run_dseek({"bench", "--preset", "deepseek-v2-lite", "--dummy", "-r", "0"});
  EXPECT_NE(no_runs.status, 0);
  EXPECT_NE(no_runs.err.find("--repetitions"), std::string::npos) << no_runs.err;
}

// With a depth, the tests run after that many tokens (more than one prompt chunk here) and are
// named as llama-bench names them; a depth past the model's context is an error naming it.
TEST(BenchCommand, DepthRunsTheTestsAfterThatManyTokens) {
  ProcessResult r = run_dseek({"bench", "--preset", "deepseek-v2-lite", "--dummy", "--layers", "1", "--dtype", "q8_0",
                               "-p", "4", "-g", "3", "-d", "600", "--bandwidth-gib", "0.0625", "-t", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| pp4 @ d600 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg3 @ d600 |"), std::string::npos) << r.out;

  ProcessResult too_deep = run_dseek({"bench", "--preset", "deepseek-v2-lite", "--dummy", "--layers", "1", "--dtype", "q8_0",
                                      "-p", "4", "-g", "0", "-d", "163837"});
  EXPECT_NE(too_deep.status, 0);
  EXPECT_NE(too_deep.err.find("--depth 163837 plus the longest test (4 tokens) exceeds the model's context of 163840"),
            std::string::npos)
      << too_deep.err;
}

}  // namespace
}  // namespace dseek::cli_test
