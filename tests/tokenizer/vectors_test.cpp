// The fixture vectors: ids made by Hugging Face tokenizers on the real DeepSeek files.
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace dseek {
namespace {

struct Vector {
  std::string text;
  std::vector<uint32_t> ids;
};

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// vectors.inp: inputs each followed by "\n__ggml_vocab_test__\n"; vectors.out: one line
// of ids per input.
std::vector<Vector> load_vectors(const std::string& name) {
  std::string inputs = read_all(testing::tokenizer_fixture(name) / "vectors.inp");
  std::istringstream outputs(read_all(testing::tokenizer_fixture(name) / "vectors.out"));
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<Vector> vectors;
  size_t pos = 0;
  for (size_t end; (end = inputs.find(separator, pos)) != std::string::npos; pos = end + separator.size()) {
    Vector v;
    v.text = inputs.substr(pos, end - pos);
    std::string line;
    std::getline(outputs, line);
    std::istringstream ids(line);
    for (uint32_t id; ids >> id;) v.ids.push_back(id);
    vectors.push_back(std::move(v));
  }
  EXPECT_EQ(pos, inputs.size()) << name << ": trailing text after the last separator";
  return vectors;
}

class TokenizerVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerVectors, EncodeMatchesHuggingFace) {
  const Tokenizer& tokenizer = testing::fixture_tokenizer(GetParam());
  std::vector<Vector> vectors = load_vectors(GetParam());
  ASSERT_GT(vectors.size(), 40u);
  for (const Vector& v : vectors) EXPECT_EQ(tokenizer.encode(v.text), v.ids) << "input: \"" << v.text << "\"";
}

TEST_P(TokenizerVectors, DecodeRoundTrips) {
  const Tokenizer& tokenizer = testing::fixture_tokenizer(GetParam());
  for (const Vector& v : load_vectors(GetParam())) {
    EXPECT_EQ(tokenizer.decode(v.ids), v.text);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(v.text, true), true), v.text);
  }
}

TEST_P(TokenizerVectors, StreamingConcatenatesToDecode) {
  const Tokenizer& tokenizer = testing::fixture_tokenizer(GetParam());
  for (const Vector& v : load_vectors(GetParam())) {
    StreamDecoder stream(tokenizer);
    std::string streamed;
    for (uint32_t id : v.ids) {
      std::string piece = stream.push(id);
      // Every piece is whole characters on its own.
      EXPECT_EQ(utf8::find_invalid(piece), std::string::npos) << "input: \"" << v.text << "\"";
      streamed += piece;
    }
    streamed += stream.finish();
    EXPECT_EQ(streamed, v.text);
  }
}

TEST_P(TokenizerVectors, ConcurrentEncodingAgrees) {
  // A fresh tokenizer, so the threads race to fill its word cache.
  Tokenizer tokenizer = Tokenizer::load(testing::tokenizer_fixture(GetParam()));
  std::vector<Vector> vectors = load_vectors(GetParam());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (const Vector& v : vectors) mismatches[t] += tokenizer.encode(v.text) != v.ids;
    });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(mismatches.size(), 0));
}

INSTANTIATE_TEST_SUITE_P(TokenizerFixtures, TokenizerVectors, ::testing::Values("deepseek-llm", "deepseek-coder"),
                         [](const auto& info) { return info.param == "deepseek-llm" ? "Llm" : "Coder"; });

}  // namespace
}  // namespace dseek
