// Tokenizers read from GGUF metadata against the same tokenizer.json, and the keys' errors.
#include "tokenizer/gguf_tokenizer.h"

#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "../io/io_test_util.h"
#include "chat/chat_template.h"
#include "io/gguf.h"
#include "tokenizer_test_util.h"
#include "tools/quantize.h"
#include "util/error.h"

namespace dseek {
namespace {

using io_test::TempDir;

std::string chat_model_dir() { return std::string(DSEEK_FIXTURES) + "/models/v2-chat-tiny"; }

// v2-chat-tiny (the real DeepSeek LLM tokenizer and V2-Lite-Chat template) as `dseek quantize` writes it.
class QuantizedChatModel : public ::testing::Test {
 protected:
  void SetUp() override { quantize_model(chat_model_dir(), path(), {}); }
  std::string path() const { return tmp_.file("chat.gguf"); }

 private:
  TempDir tmp_;
};

// Both tokenizers agree on every id's token, special flag and decoding.
void expect_same_vocabulary(const Tokenizer& gguf, const Tokenizer& json) {
  ASSERT_EQ(gguf.vocab_size(), json.vocab_size());
  for (uint32_t id = 0; id < gguf.vocab_size() + 10; ++id) {
    ASSERT_EQ(gguf.id_to_token(id), json.id_to_token(id)) << id;
    ASSERT_EQ(gguf.is_special(id), json.is_special(id)) << id;
  }
  EXPECT_EQ(gguf.bos_id(), json.bos_id());
  EXPECT_EQ(gguf.eos_id(), json.eos_id());
  EXPECT_EQ(gguf.pad_id(), json.pad_id());
  ASSERT_EQ(gguf.added_tokens().size(), json.added_tokens().size());
  for (const AddedToken& token : json.added_tokens()) {
    EXPECT_EQ(gguf.token_to_id(token.content), token.id) << token.content;
    EXPECT_EQ(gguf.is_special(token.id), token.special) << token.content;
  }
}

void expect_same_vectors(const Tokenizer& gguf, const Tokenizer& json, const std::string& vectors) {
  std::vector<testing::Vector> all = testing::load_vectors(vectors);
  ASSERT_GT(all.size(), 40u);
  for (const testing::Vector& v : all) {
    EXPECT_EQ(gguf.encode(v.text), v.ids) << "input: \"" << v.text << "\"";
    EXPECT_EQ(gguf.encode(v.text, true), json.encode(v.text, true)) << "input: \"" << v.text << "\"";
    EXPECT_EQ(gguf.decode(v.ids), json.decode(v.ids));
    std::vector<uint32_t> with_specials = json.encode(v.text, true);
    EXPECT_EQ(gguf.decode(with_specials, true), json.decode(with_specials, true));
  }
}

TEST_F(QuantizedChatModel, TokenizerMatchesTokenizerJson) {
  Tokenizer gguf = load_gguf_tokenizer(GgufFile(path()));
  const Tokenizer json = Tokenizer::load(chat_model_dir());
  expect_same_vocabulary(gguf, json);
  expect_same_vectors(gguf, json, "deepseek-llm");
  EXPECT_EQ(gguf.config().add_bos_token, true);
  EXPECT_EQ(gguf.config().add_eos_token, false);
  // Tokenizer::load takes the GGUF file too.
  EXPECT_EQ(Tokenizer::load(path()).encode("Hello world", true), json.encode("Hello world", true));
}

TEST_F(QuantizedChatModel, ChatTemplateRendersE2ePrompts) {
  Tokenizer gguf = load_gguf_tokenizer(GgufFile(path()));
  const ChatTemplate& source = select_chat_template(gguf.config(), "", false);
  EXPECT_EQ(source.source, TokenizerConfig::load(chat_model_dir()).chat_template()->source);
  CompiledChatTemplate compiled = CompiledChatTemplate::parse(source.source, source.name);
  std::ifstream in(chat_model_dir() + "/e2e.json");
  nlohmann::json e2e = nlohmann::json::parse(in);
  int rendered = 0;
  for (const auto& c : e2e["cases"]) {
    if (c["kind"] != "chat") continue;
    ChatRequest request;
    request.messages = c["messages"];
    request.add_generation_prompt = true;
    std::string prompt = compiled.render(build_chat_context(request, gguf.config()));
    EXPECT_EQ(prompt, c["prompt"].get<std::string>());
    std::vector<uint32_t> ids = gguf.encode(prompt);
    EXPECT_EQ(std::vector<int64_t>(ids.begin(), ids.end()), c["prompt_ids"].get<std::vector<int64_t>>());
    ++rendered;
  }
  EXPECT_GE(rendered, 3);
}

GgufFile write_metadata(const TempDir& tmp, const GgufMetadata& metadata) {
  write_gguf(tmp.file("t.gguf"), metadata, {});
  return GgufFile(tmp.file("t.gguf"));
}

TEST(GgufTokenizer, CoderTokenizerMatchesTokenizerJson) {
  TempDir tmp;
  GgufMetadata m = gguf_tokenizer_metadata(testing::tokenizer_fixture("deepseek-coder"), 32256, std::nullopt, std::nullopt);
  Tokenizer gguf = load_gguf_tokenizer(write_metadata(tmp, m));
  const Tokenizer& json = testing::fixture_tokenizer("deepseek-coder");
  expect_same_vocabulary(gguf, json);
  expect_same_vectors(gguf, json, "deepseek-coder");
}

// The metadata `dseek quantize` writes names the pre-tokenizer by the split, not by the model.
TEST(GgufTokenizer, MetadataNamesThePreTokenizer) {
  auto pre = [](const std::string& name) {
    GgufMetadata m = gguf_tokenizer_metadata(testing::tokenizer_fixture(name), 102400, std::nullopt, std::nullopt);
    for (const auto& [key, value] : m)
      if (key == "tokenizer.ggml.pre") return value.as_string(key);
    return std::string();
  };
  EXPECT_EQ(pre("deepseek-llm"), "deepseek-llm");
  EXPECT_EQ(pre("deepseek-coder"), "deepseek-coder");

  TempDir tmp;
  nlohmann::json json = nlohmann::json::parse(testing::read_all(testing::tokenizer_fixture("deepseek-coder") / "tokenizer.json"));
  json["pre_tokenizer"]["pretokenizers"][1]["pattern"]["Regex"] = "\\s?\\p{Lu}+";
  std::ofstream(tmp.file("tokenizer.json")) << json.dump();
  try {
    gguf_tokenizer_metadata(tmp.path(), 32256, std::nullopt, std::nullopt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: pre_tokenizer is none that llama.cpp knows"), std::string::npos)
        << e.what();
  }
}

// A tiny vocabulary: digits and two merges that only the V3 split into runs of three keeps apart.
GgufMetadata tiny_v3() {
  std::vector<GgufValue> types;
  for (int i = 0; i < 11; ++i) types.push_back(GgufValue::i32(i < 9 ? 1 : i == 9 ? 3 : 5));
  return {
      {"tokenizer.ggml.model", GgufValue::string("gpt2")},
      {"tokenizer.ggml.pre", GgufValue::string("deepseek-v3")},
      {"tokenizer.ggml.tokens", GgufValue::strings({"1", "2", "3", "4", "5", "34", "12", "123", "45", "<bos>", "[PAD10]"})},
      {"tokenizer.ggml.token_type", GgufValue::array(GgufType::I32, types)},
      {"tokenizer.ggml.merges", GgufValue::strings({"3 4", "1 2", "12 3", "4 5"})},
      {"tokenizer.ggml.bos_token_id", GgufValue::u32(9)},
      {"tokenizer.ggml.add_bos_token", GgufValue::boolean(true)},
  };
}

TEST(GgufTokenizer, DeepSeekV3SplitsDigitsInThrees) {
  TempDir tmp;
  Tokenizer t = load_gguf_tokenizer(write_metadata(tmp, tiny_v3()));
  EXPECT_EQ(t.encode("12345"), (std::vector<uint32_t>{7, 8}));
  EXPECT_EQ(t.encode("<bos>12345", true), (std::vector<uint32_t>{9, 9, 7, 8}));
  EXPECT_EQ(t.decode(std::vector<uint32_t>{9, 7, 8, 10}, true), "12345");  // unused ids decode to nothing
  EXPECT_TRUE(t.is_special(9));
}

// Each broken tokenizer names the file and the key at fault.
TEST(GgufTokenizer, ErrorsNameTheKey) {
  struct Case {
    std::string what;
    std::function<void(GgufMetadata&)> change;
    std::string message;
  };
  auto set = [](const std::string& key, GgufValue value) {
    return [=](GgufMetadata& m) {
      for (auto& [k, v] : m)
        if (k == key) v = value;
    };
  };
  auto drop = [](const std::string& key) {
    return [=](GgufMetadata& m) { std::erase_if(m, [&](const auto& kv) { return kv.first == key; }); };
  };
  std::vector<Case> cases = {
      {"no tokenizer", [](GgufMetadata& m) { m.clear(); }, "no tokenizer.ggml.model); give --tokenizer DIR"},
      {"model none", set("tokenizer.ggml.model", GgufValue::string("none")), "is \"none\"); give --tokenizer DIR"},
      {"spm", set("tokenizer.ggml.model", GgufValue::string("llama")), "tokenizer.ggml.model is \"llama\""},
      {"no pre", drop("tokenizer.ggml.pre"), "tokenizer.ggml.pre is missing"},
      {"unknown pre", set("tokenizer.ggml.pre", GgufValue::string("qwen2")), "tokenizer.ggml.pre \"qwen2\" is not supported"},
      {"no tokens", drop("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens is missing"},
      {"no merges", drop("tokenizer.ggml.merges"), "tokenizer.ggml.merges is missing"},
      {"short token_type", set("tokenizer.ggml.token_type", GgufValue::array(GgufType::I32, {GgufValue::i32(1)})),
       "tokenizer.ggml.token_type has 1 entries for 11 tokens"},
      {"token_type of U32", set("tokenizer.ggml.token_type", GgufValue::array(GgufType::U32, {GgufValue::u32(1)})),
       "tokenizer.ggml.token_type is an array of u32, expected i32"},
      {"unknown merge token", set("tokenizer.ggml.merges", GgufValue::strings({"3 4", "1 9"})),
       "tokenizer.ggml.merges[1]: 9 is not in the vocabulary"},
      {"bos past the tokens", set("tokenizer.ggml.bos_token_id", GgufValue::u32(11)),
       "tokenizer.ggml.bos_token_id 11 is not a token of tokenizer.ggml.tokens"},
      {"bos unused", set("tokenizer.ggml.bos_token_id", GgufValue::u32(10)),
       "tokenizer.ggml.bos_token_id 10 is not a token"},
      {"add_bos without bos", drop("tokenizer.ggml.bos_token_id"),
       "tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir tmp;
    GgufMetadata m = tiny_v3();
    c.change(m);
    try {
      load_gguf_tokenizer(write_metadata(tmp, m));
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      std::string message = e.what();
      EXPECT_EQ(message.rfind(tmp.file("t.gguf") + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(c.message), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace dseek
