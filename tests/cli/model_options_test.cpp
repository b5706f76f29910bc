// The model options every subcommand shares, through the real binary: random quantized weights
// in a preset's full width, the activations' precision, and errors that name the option.
#include <gtest/gtest.h>

#include "cli_process.h"
#include "kernels/cpu.h"

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

TEST(ModelOptions, ActivationsChooseThePrecisionTheCpuCanRun) {
  const bool can = active_isa() == Isa::Avx512 && cpu_features().avx512bf16;
  auto with = [](const std::string& activations) {
    std::vector<std::string> args = dummy_generate("bf16");
    args.insert(args.end(), {"--activations", activations});
    return run_dseek(args);
  };
  ProcessResult f32 = with("f32"), bf16 = with("bf16"), automatic = with("auto"), bogus = with("f8");
  EXPECT_EQ(f32.status, 0) << f32.err;
  EXPECT_NE(f32.err.find(", f32 activations"), std::string::npos) << f32.err;
  EXPECT_EQ(automatic.status, 0) << automatic.err;
  EXPECT_NE(automatic.err.find(can ? ", bf16 activations" : ", f32 activations"), std::string::npos) << automatic.err;
  if (can) {
    EXPECT_EQ(bf16.status, 0) << bf16.err;
    EXPECT_NE(bf16.err.find(", bf16 activations"), std::string::npos) << bf16.err;
  } else {
    EXPECT_NE(bf16.status, 0);
    EXPECT_NE(bf16.err.find("--activations bf16 needs"), std::string::npos) << bf16.err;
  }
  EXPECT_NE(bogus.status, 0);
  EXPECT_NE(bogus.err.find("--activations"), std::string::npos) << bogus.err;
}

TEST(ModelOptions, CacheTypeIsOneOfTheHalfOrFullTypes) {
  auto with = [](const std::string& type) {
    std::vector<std::string> args = dummy_generate("q8_0");
    args.insert(args.end(), {"--cache-type", type});
    return run_dseek(args);
  };
  for (const char* type : {"f16", "bf16"}) {
    ProcessResult r = with(type);
    EXPECT_EQ(r.status, 0) << type << ": " << r.err;
    EXPECT_NE(r.err.find(std::string(", ") + type + " KV cache"), std::string::npos) << r.err;
  }
  ProcessResult bogus = with("q4_0");
  EXPECT_NE(bogus.status, 0);
  EXPECT_NE(bogus.err.find("--cache-type 'q4_0': the KV cache types are f32, f16 and bf16"), std::string::npos) << bogus.err;
}

}  // namespace
}  // namespace dseek::cli_test
