// The fixture vectors: ids made by Hugging Face tokenizers on the real DeepSeek files.
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace dseek {
namespace {

class TokenizerVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerVectors, EncodeMatchesHuggingFace) {
  const Tokenizer& tokenizer = testing::fixture_tokenizer(GetParam());
  std::vector<testing::Vector> vectors = testing::load_vectors(GetParam());
  ASSERT_GT(vectors.size(), 40u);
  for (const testing::Vector& v : vectors) EXPECT_EQ(tokenizer.encode(v.text), v.ids) << "input: \"" << v.text << "\"";
}

TEST_P(TokenizerVectors, DecodeRoundTrips) {
  const Tokenizer& tokenizer = testing::fixture_tokenizer(GetParam());
  for (const testing::Vector& v : testing::load_vectors(GetParam())) {
    EXPECT_EQ(tokenizer.decode(v.ids), v.text);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(v.text, true), true), v.text);
  }
}

TEST_P(TokenizerVectors, StreamingConcatenatesToDecode) {
  const Tokenizer& tokenizer = testing::fixture_tokenizer(GetParam());
  for (const testing::Vector& v : testing::load_vectors(GetParam())) {
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
  std::vector<testing::Vector> vectors = testing::load_vectors(GetParam());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (const testing::Vector& v : vectors) mismatches[t] += tokenizer.encode(v.text) != v.ids;
    });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(mismatches.size(), 0));
}

INSTANTIATE_TEST_SUITE_P(TokenizerFixtures, TokenizerVectors, ::testing::Values("deepseek-llm", "deepseek-coder"),
                         [](const auto& info) { return info.param == "deepseek-llm" ? "Llm" : "Coder"; });

}  // namespace
}  // namespace dseek
