// Whole tokenizers built from small tokenizer.json specs: BPE merging, unknown characters,
// post-processing, decoding and error reporting.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace dseek {
namespace {

using nlohmann::json;
using Ids = std::vector<uint32_t>;

constexpr uint32_t kSpace = ' ';  // the byte-level token "Ġ"

// Byte-level vocabulary: id b is the alphabet character of byte b; extra tokens follow
// from 256. Added tokens: "<s>" (300, special) and "ü" (301).
json byte_level_spec(const std::vector<std::string>& extra_tokens, const json& merges) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    std::string token;
    byte_level::encode(std::string(1, static_cast<char>(b)), token);
    vocab[token] = b;
  }
  for (size_t i = 0; i < extra_tokens.size(); ++i) vocab[extra_tokens[i]] = 256 + i;
  return {
      {"added_tokens",
       {{{"id", 300}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
        {{"id", 301}, {"content", "ü"}, {"special", false}, {"normalized", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
  };
}

Tokenizer make(const json& spec, TokenizerConfig config = {}) { return Tokenizer::from_json(spec.dump(), config); }

std::string error_of(const json& spec, TokenizerConfig config = {}) {
  try {
    make(spec, config);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TokenizerBpe, MergeRanksDecideTheOrder) {
  std::vector<std::string> extra = {"ab", "bc"};
  Tokenizer bc_first = make(byte_level_spec(extra, {"b c", "a b"}));
  EXPECT_EQ(bc_first.encode("abc"), (Ids{'a', 257}));
  Tokenizer ab_first = make(byte_level_spec(extra, {"a b", "b c"}));
  EXPECT_EQ(ab_first.encode("abc"), (Ids{256, 'c'}));
  // The pair form of merges means the same.
  Tokenizer pairs = make(byte_level_spec(extra, json::array({json::array({"b", "c"}), json::array({"a", "b"})})));
  EXPECT_EQ(pairs.encode("abc"), (Ids{'a', 257}));
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  Tokenizer tokenizer = make(byte_level_spec({"aa", "aaaa"}, {"a a", "aa aa"}));
  EXPECT_EQ(tokenizer.encode("aaa"), (Ids{256, 'a'}));
  EXPECT_EQ(tokenizer.encode("aaaaa"), (Ids{257, 'a'}));
  // The second "aaa" comes from the word cache.
  EXPECT_EQ(tokenizer.encode("aaa aaa"), (Ids{256, 'a', kSpace, 256, 'a'}));
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  json spec = byte_level_spec({"ab", "abc"}, {"a b"});
  EXPECT_EQ(make(spec).encode("abc"), (Ids{256, 'c'}));
  spec["model"]["ignore_merges"] = true;
  EXPECT_EQ(make(spec).encode("abc"), (Ids{257}));
}

json plain_spec(json model_options) {
  json vocab = {{"a", 0}, {"b", 1}, {"<unk>", 2}, {"<0x78>", 3}};
  json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}};
  model.update(model_options);
  return {{"model", model}};
}

TEST(TokenizerBpe, CharactersOutsideTheVocabulary) {
  EXPECT_EQ(make(plain_spec(json::object())).encode("axyb"), (Ids{0, 1}));
  EXPECT_EQ(make(plain_spec({{"unk_token", "<unk>"}})).encode("axyb"), (Ids{0, 2, 2, 1}));
  EXPECT_EQ(make(plain_spec({{"unk_token", "<unk>"}, {"fuse_unk", true}})).encode("axyb"), (Ids{0, 2, 1}));
  EXPECT_EQ(make(plain_spec({{"unk_token", "<unk>"}, {"byte_fallback", true}})).encode("axyb"), (Ids{0, 3, 2, 1}));
}

TEST(TokenizerDecode, BytesAddedTokensAndUnknownIds) {
  Tokenizer tokenizer = make(byte_level_spec({"ab"}, {"a b"}));
  EXPECT_EQ(tokenizer.decode(Ids{300, 256, kSpace, 301, 999}), "<s>ab ü");
  EXPECT_EQ(tokenizer.decode(Ids{300, 256, kSpace, 301}, true), "ab ü");
  // Bytes that do not form UTF-8 become U+FFFD, one per maximal ill-formed run.
  EXPECT_EQ(tokenizer.decode(Ids{0xE4, 0xB8, 'a', 0xFF}), "\uFFFDa\uFFFD");
  EXPECT_EQ(tokenizer.vocab_size(), 302u);
  EXPECT_TRUE(tokenizer.is_special(300));
  EXPECT_FALSE(tokenizer.is_special(301));
  EXPECT_FALSE(tokenizer.is_special(280));  // a gap between vocabulary and added tokens
  EXPECT_EQ(tokenizer.decode(Ids{280}), "");
  // Added tokens are matched before pre-tokenization; "ü" normalized, "<s>" raw.
  EXPECT_EQ(tokenizer.encode("a<s>üb"), (Ids{'a', 300, 301, 'b'}));
}

TEST(TokenizerDecode, WithoutDecoderTokensJoinWithSpaces) {
  Tokenizer tokenizer = make(plain_spec(json::object()));
  EXPECT_EQ(tokenizer.decode(Ids{0, 1, 0}), "a b a");
}

TEST(TokenizerPostProcessor, TemplateAddsBos) {
  json spec = byte_level_spec({}, json::array());
  json bos_template = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {300}}, {"tokens", {"<s>"}}}}}}};
  spec["post_processor"] = bos_template;
  EXPECT_EQ(make(spec).encode("a", true), (Ids{300, 'a'}));
  EXPECT_EQ(make(spec).encode("a", false), (Ids{'a'}));
  // Llama 3 style: a Sequence of ByteLevel (offsets only) and the template.
  spec["post_processor"] = {{"type", "Sequence"}, {"processors", {{{"type", "ByteLevel"}}, bos_template}}};
  EXPECT_EQ(make(spec).encode("a", true), (Ids{300, 'a'}));
}

TEST(TokenizerPostProcessor, LlamaConfigFlagsReplaceTheTemplate) {
  json spec = byte_level_spec({}, json::array());
  TokenizerConfig config;
  config.tokenizer_class = "LlamaTokenizerFast";
  config.bos_token = "<s>";
  config.eos_token = "ü";
  EXPECT_EQ(make(spec, config).encode("a", true), (Ids{300, 'a'}));
  config.add_bos_token = false;
  config.add_eos_token = true;
  EXPECT_EQ(make(spec, config).encode("a", true), (Ids{'a', 301}));
  EXPECT_EQ(make(spec, config).bos_id(), 300u);
  config.bos_token = "<missing>";
  EXPECT_EQ(error_of(spec, config), "tokenizer_config.json: bos_token <missing> is not a token of tokenizer.json");
}

TEST(TokenizerErrors, NameTheComponentAndField) {
  json spec = byte_level_spec({"ab"}, {"a b", "a zz"});
  EXPECT_EQ(error_of(spec), "tokenizer.json: model.merges[1]: zz is not in the vocabulary");
  spec = byte_level_spec({}, {"a b c"});
  EXPECT_EQ(error_of(spec), "tokenizer.json: model.merges[0]: expected two tokens separated by one space");
  spec = byte_level_spec({}, json::array());
  spec["model"]["type"] = "Unigram";
  EXPECT_EQ(error_of(spec), "tokenizer.json: model.type: unsupported model type Unigram");
  spec = byte_level_spec({}, json::array());
  spec["decoder"] = {{"type", "WordPiece"}};
  EXPECT_EQ(error_of(spec), "tokenizer.json: decoder: unsupported decoder type WordPiece");
  spec = byte_level_spec({}, json::array());
  spec["post_processor"] = {{"type", "BertProcessing"}};
  EXPECT_EQ(error_of(spec), "tokenizer.json: post_processor: unsupported post_processor type BertProcessing");
  spec = byte_level_spec({}, json::array());
  spec["model"]["dropout"] = 0.1;
  EXPECT_EQ(error_of(spec), "tokenizer.json: model.dropout: BPE dropout is random and not supported");
  spec = byte_level_spec({}, json::array());
  spec["model"]["vocab"]["x"] = -1;
  EXPECT_EQ(error_of(spec), "tokenizer.json: model.vocab.x: expected a token id (an integer from 0 to 67108863)");
  spec["model"]["vocab"]["x"] = {{"id", 1}};
  EXPECT_EQ(error_of(spec), "tokenizer.json: model.vocab.x: expected a token id (an integer from 0 to 67108863)");
  spec = byte_level_spec({}, json::array());
  spec["added_tokens"][0]["id"] = 4000000000u;
  EXPECT_EQ(error_of(spec), "tokenizer.json: added_tokens[0].id: expected a token id (an integer from 0 to 67108863)");
  EXPECT_THROW(Tokenizer::from_json("{\"model\": ", {}), Error);
}

TEST(TokenizerErrors, InvalidUtf8Input) {
  Tokenizer tokenizer = make(byte_level_spec({}, json::array()));
  try {
    tokenizer.encode("ok\xC3(");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tokenizer: input text is not valid UTF-8 (byte 2)");
  }
}

}  // namespace
}  // namespace dseek
