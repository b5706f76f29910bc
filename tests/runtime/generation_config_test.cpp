#include "runtime/generation_config.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "util/error.h"

namespace dseek {
namespace {

// The message of the Error that parsing `json` throws, or "" when it does not throw.
std::string parse_error(const std::string& json) {
  try {
    GenerationConfig::parse(json, "gen.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GenerationConfig, ReadsDeepSeekV3sFile) {
  const GenerationConfig config = GenerationConfig::parse(R"({
    "_from_model_config": true,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "do_sample": true,
    "temperature": 0.6,
    "top_p": 0.95,
    "transformers_version": "4.46.3"
  })", "gen.json");
  EXPECT_EQ(config.eos_token_ids, std::vector<int32_t>{1});
  EXPECT_EQ(config.bos_token_id, 0);
  EXPECT_EQ(config.do_sample, true);
  EXPECT_FALSE(config.max_new_tokens.has_value());

  const SamplingParams params = config.sampling_defaults();
  EXPECT_FLOAT_EQ(params.temperature, 0.6f);
  EXPECT_FLOAT_EQ(params.top_p, 0.95f);
  // Absent fields keep SamplingParams' defaults, not Hugging Face's top_k 50.
  EXPECT_EQ(params.top_k, SamplingParams().top_k);
  EXPECT_EQ(params.min_p, SamplingParams().min_p);
  EXPECT_EQ(params.repetition_penalty, SamplingParams().repetition_penalty);
}

TEST(GenerationConfig, EveryFieldAndEosList) {
  const GenerationConfig config = GenerationConfig::parse(R"({
    "eos_token_id": [100001, 100008], "top_k": 40, "min_p": 0.05,
    "repetition_penalty": 1.1, "max_new_tokens": 512, "temperature": null
  })", "gen.json");
  EXPECT_EQ(config.eos_token_ids, (std::vector<int32_t>{100001, 100008}));
  EXPECT_FALSE(config.temperature.has_value());
  EXPECT_EQ(config.max_new_tokens, 512);
  const SamplingParams params = config.sampling_defaults();
  EXPECT_EQ(params.top_k, 40);
  EXPECT_FLOAT_EQ(params.min_p, 0.05f);
  EXPECT_FLOAT_EQ(params.repetition_penalty, 1.1f);
  EXPECT_EQ(params.temperature, SamplingParams().temperature);
}

TEST(GenerationConfig, DoSampleFalseMeansGreedy) {
  const GenerationConfig config =
      GenerationConfig::parse(R"({"do_sample": false, "temperature": 0.7})", "gen.json");
  EXPECT_EQ(config.sampling_defaults().temperature, 0.0f);
}

TEST(GenerationConfig, MalformedFieldsAreErrorsNamingFileAndField) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"temperature": "hot"})", "temperature"},
      {R"({"temperature": -1})", "temperature"},
      {R"({"top_p": 1.5})", "top_p"},
      {R"({"top_k": 2.5})", "top_k"},
      {R"({"top_k": -5})", "top_k"},
      {R"({"min_p": [0.1]})", "min_p"},
      {R"({"repetition_penalty": 0})", "repetition_penalty"},
      {R"({"do_sample": 1})", "do_sample"},
      {R"({"eos_token_id": "</s>"})", "eos_token_id"},
      {R"({"eos_token_id": [1, -2]})", "eos_token_id"},
      {R"({"eos_token_id": 3000000000})", "eos_token_id"},
      {R"({"eos_token_id": 18446744073709551615})", "eos_token_id"},
      {R"({"bos_token_id": 1.5})", "bos_token_id"},
      {R"({"max_new_tokens": 0})", "max_new_tokens"},
      {R"([1, 2])", "object"},
      {R"({"top_p": 0.9,)", "JSON"},
  };
  for (const auto& [json, field] : cases) {
    const std::string message = parse_error(json);
    EXPECT_NE(message.find("gen.json"), std::string::npos) << json << ": " << message;
    EXPECT_NE(message.find(field), std::string::npos) << json << ": " << message;
  }
}

class GenerationConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("dseek_generation_config_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& text) { std::ofstream(dir_ / "generation_config.json") << text; }

  std::filesystem::path dir_;
};

TEST_F(GenerationConfigFile, MissingFileGivesNoDefaults) {
  const GenerationConfig config = GenerationConfig::load(dir_);
  EXPECT_TRUE(config.eos_token_ids.empty());
  EXPECT_FALSE(config.bos_token_id.has_value());
  EXPECT_EQ(config.sampling_defaults().temperature, SamplingParams().temperature);
}

TEST_F(GenerationConfigFile, LoadsTheFile) {
  write(R"({"eos_token_id": 100001, "temperature": 0.3})");
  const GenerationConfig config = GenerationConfig::load(dir_);
  EXPECT_EQ(config.eos_token_ids, std::vector<int32_t>{100001});
  EXPECT_FLOAT_EQ(config.sampling_defaults().temperature, 0.3f);
}

TEST_F(GenerationConfigFile, ErrorsNameThePath) {
  write(R"({"top_p": 2})");
  try {
    GenerationConfig::load(dir_);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string message = e.what();
    const std::string path = (dir_ / "generation_config.json").string();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("top_p"), std::string::npos) << message;
  }
}

}  // namespace
TEST(GenerationConfig, StopTokensGatherEveryEosOnce) {
  GenerationConfig g = GenerationConfig::parse(R"({"eos_token_id": [7, 3]})", "generation_config.json");
  EXPECT_EQ(g.stop_token_ids({3, 9}, 11u), (std::vector<int32_t>{3, 7, 9, 11}));
  EXPECT_EQ(GenerationConfig{}.stop_token_ids({}, std::nullopt), std::vector<int32_t>{});
}

}  // namespace dseek
