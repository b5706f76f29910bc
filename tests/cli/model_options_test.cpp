// The model options every subcommand shares, through the real binary: random quantized weights
// in a preset's full width, and errors that name the option.
#include <gtest/gtest.h>

#include "cli_process.h"

namespace dseek::cli_test {
namespace {

std::vector<std::string> dummy_generate(const std::string& dtype) {
  return {"generate", "--preset", "deepseek-v2-lite", "--dummy", "--layers", "2", "--dtype", dtype,
          "--tokens", "100000,1,2", "-n", "2", "-t", "2"};
}

TEST(ModelOptions, DummyQuantizedPresetGenerates) {
  for (const char* dtype : {"q8_0", "q4_k_m"}) {
    ProcessResult r = run_dseek(dummy_generate(dtype));
    EXPECT_EQ(r.status, 0) << dtype << ": " << r.err;
    EXPECT_NE(r.err.find(std::string("RANDOM ") + dtype + " weights"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("decode: "), std::string::npos) << r.err;
  }
}

TEST(ModelOptions, UnknownDtypeNamesTheOption) {
  ProcessResult r = run_dseek(dummy_generate("q7_k"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--dtype: unknown type \"q7_k\""), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dseek::cli_test
