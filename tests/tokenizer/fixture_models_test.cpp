// The real DeepSeek tokenizer against the model fixture's e2e.json (made with transformers).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace dseek {
namespace {

const std::filesystem::path kChatModel = std::filesystem::path(DSEEK_FIXTURES) / "models" / "v2-chat-tiny";

std::vector<uint32_t> ids_of(const nlohmann::json& array) { return array.get<std::vector<uint32_t>>(); }

TEST(TokenizerE2e, PromptsAndContinuationsMatchTransformers) {
  Tokenizer tokenizer = Tokenizer::load(kChatModel);
  std::ifstream in(kChatModel / "e2e.json");
  nlohmann::json e2e = nlohmann::json::parse(in);
  ASSERT_FALSE(e2e["cases"].empty());
  for (const auto& c : e2e["cases"]) {
    std::string prompt = c["prompt"];
    // Chat prompts carry BOS as text; completions ask for it.
    bool add_bos = c.value("add_bos", false);
    EXPECT_EQ(tokenizer.encode(prompt, add_bos), ids_of(c["prompt_ids"])) << prompt;
    EXPECT_EQ(tokenizer.decode(ids_of(c["greedy_ids"]), true), c["greedy_text"].get<std::string>());
  }
}

TEST(TokenizerE2e, ConfigAccessors) {
  const Tokenizer& llm = testing::fixture_tokenizer("deepseek-llm");
  EXPECT_EQ(llm.vocab_size(), 100015u);
  EXPECT_EQ(llm.bos_id(), 100000u);
  EXPECT_EQ(llm.eos_id(), 100001u);
  EXPECT_EQ(llm.pad_id(), 100001u);
  EXPECT_TRUE(llm.is_special(100000));
  EXPECT_FALSE(llm.is_special(100014));  // the added "ü" is not special
  EXPECT_FALSE(llm.is_special(17464));
  EXPECT_EQ(llm.id_to_token(100001), "<｜end▁of▁sentence｜>");
  EXPECT_EQ(llm.token_to_id("<｜end▁of▁sentence｜>"), 100001u);
  EXPECT_EQ(llm.id_to_token(17464), "Hello");
  EXPECT_EQ(llm.token_to_id("ĠHello"), 37727u);
  EXPECT_FALSE(llm.id_to_token(100015));
  ASSERT_NE(llm.config().chat_template(), nullptr);
  EXPECT_NE(llm.config().chat_template()->source.find("Assistant:"), std::string::npos);

  const Tokenizer& coder = testing::fixture_tokenizer("deepseek-coder");
  EXPECT_EQ(coder.vocab_size(), 32022u);
  EXPECT_EQ(coder.bos_id(), 32013u);
  EXPECT_EQ(coder.encode("def", true).front(), 32013u);
}

TEST(TokenizerE2e, PaddedIdsAndSpecialTokensInDecode) {
  const Tokenizer& llm = testing::fixture_tokenizer("deepseek-llm");
  std::vector<uint32_t> ids = {100000, 17464, 102399, 100015, 1843, 100001};
  EXPECT_EQ(llm.decode(ids), "<｜begin▁of▁sentence｜>Hello world<｜end▁of▁sentence｜>");
  EXPECT_EQ(llm.decode(ids, true), "Hello world");
  // Special tokens typed in the text are matched as tokens, not spelled out.
  EXPECT_EQ(llm.encode("<｜end▁of▁sentence｜>Hello"), (std::vector<uint32_t>{100001, 17464}));
}

}  // namespace
}  // namespace dseek
