#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_config.h"
#include "util/error.h"

namespace dseek {
namespace {

TEST(TokenizerConfigParse, SpecialTokensAsStringsOrObjects) {
  TokenizerConfig config = TokenizerConfig::parse(R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>",
    "pad_token": null,
    "add_bos_token": false,
    "tokenizer_class": "LlamaTokenizerFast"
  })",
                                                  "tokenizer_config.json");
  EXPECT_EQ(config.bos_token, "<s>");
  EXPECT_EQ(config.eos_token, "</s>");
  EXPECT_FALSE(config.pad_token);
  EXPECT_FALSE(config.unk_token);
  EXPECT_EQ(config.add_bos_token, false);
  EXPECT_FALSE(config.add_eos_token);
  EXPECT_EQ(config.tokenizer_class, "LlamaTokenizerFast");
  EXPECT_TRUE(config.chat_templates.empty());
  EXPECT_EQ(config.chat_template(), nullptr);
}

TEST(TokenizerConfigParse, ChatTemplateStringOrNamedList) {
  TokenizerConfig single = TokenizerConfig::parse(R"({"chat_template": "{{ bos_token }}"})", "c.json");
  ASSERT_NE(single.chat_template(), nullptr);
  EXPECT_EQ(single.chat_template()->source, "{{ bos_token }}");

  TokenizerConfig named = TokenizerConfig::parse(
      R"({"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]})", "c.json");
  ASSERT_EQ(named.chat_templates.size(), 2u);
  EXPECT_EQ(named.chat_template()->source, "A");
  EXPECT_EQ(named.chat_template("tool_use")->source, "B");
  EXPECT_EQ(named.chat_template("rag"), nullptr);
}

std::string error_of(const std::string& text) {
  try {
    TokenizerConfig::parse(text, "tokenizer_config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TokenizerConfigParse, ErrorsNameTheField) {
  EXPECT_EQ(error_of(R"({"bos_token": 1})"),
            "tokenizer_config.json: bos_token: expected a string or an AddedToken object");
  EXPECT_EQ(error_of(R"({"eos_token": {"lstrip": true}})"), "tokenizer_config.json: eos_token.content: missing field");
  EXPECT_EQ(error_of(R"({"add_bos_token": "yes"})"), "tokenizer_config.json: add_bos_token: expected true or false");
  EXPECT_EQ(error_of(R"({"chat_template": [{"name": "x"}]})"),
            "tokenizer_config.json: chat_template[0].template: missing field");
  EXPECT_EQ(error_of(R"({"chat_template": 3})"),
            "tokenizer_config.json: chat_template: expected a string or a list of {name, template}");
  EXPECT_NE(error_of("{").find("tokenizer_config.json: invalid JSON"), std::string::npos);
}

TEST(TokenizerConfigLoad, ChatTemplateFileReplacesTheDefault) {
  auto dir = std::filesystem::temp_directory_path() / ("dseek_tokenizer_config_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "old", "eos_token": "</s>"})";
  EXPECT_EQ(TokenizerConfig::load(dir).chat_template()->source, "old");
  std::ofstream(dir / "chat_template.jinja") << "new";
  TokenizerConfig config = TokenizerConfig::load(dir);
  EXPECT_EQ(config.chat_template()->source, "new");
  EXPECT_EQ(config.eos_token, "</s>");
  std::filesystem::remove_all(dir);
  // A directory without a config is an empty config.
  EXPECT_FALSE(TokenizerConfig::load(dir).bos_token);
}

}  // namespace
}  // namespace dseek
