// Normalizers, pre-tokenizers and added-token matching on small hand-made specs, checked
// against the behaviour Hugging Face tokenizers documents for each option.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "util/error.h"

namespace dseek {
namespace {

using nlohmann::json;
using Strings = std::vector<std::string>;

Strings pre_tokenize(const json& spec, std::string_view text) {
  auto pre_tokenizer = make_pre_tokenizer(spec, "test:");
  Pieces pieces;
  pieces.views.assign(1, text);
  pre_tokenizer->pre_tokenize(pieces);
  return Strings(pieces.views.begin(), pieces.views.end());
}

json split(const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

TEST(TokenizerPreTokenizer, SplitBehaviors) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split("Isolated"), text), (Strings{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Removed"), text), (Strings{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious"), text), (Strings{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithNext"), text), (Strings{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split("Contiguous"), text), (Strings{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize(split("Removed", true), text), (Strings{"-", "-", "-"}));
  EXPECT_EQ(pre_tokenize(split("MergedWithPrevious", true), text), (Strings{"the", "-final", "-", "-countdown"}));
}

TEST(TokenizerPreTokenizer, StringPatternsAreLiteral) {
  json spec = {{"type", "Split"}, {"pattern", {{"String", ".*"}}}, {"behavior", "Removed"}};
  EXPECT_EQ(pre_tokenize(spec, "a.*b.c"), (Strings{"a", "b.c"}));
}

TEST(TokenizerPreTokenizer, RegexWithUnicodeClassesAndLookahead) {
  json letters = {{"type", "Split"}, {"pattern", {{"Regex", "\\s?\\p{L}+"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(pre_tokenize(letters, "héllo wörld!"), (Strings{"héllo", " wörld", "!"}));
  // Trailing spaces stay apart from the next word (GPT-2's \s+(?!\S)).
  json spaces = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+(?!\\S)|\\s+"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(pre_tokenize(spaces, "a   b"), (Strings{"a", "  ", " ", "b"}));
  // $ is an end of line, as in Oniguruma.
  json line_end = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+$"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(pre_tokenize(line_end, "a  \nb "), (Strings{"a", "  ", "\nb", " "}));
}

json isolate(const std::string& regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}};
}

TEST(TokenizerPreTokenizer, RegexClassesMeanWhatOnigurumaMeans) {
  // U+180E is no longer white space; U+3000 is.
  EXPECT_EQ(pre_tokenize(isolate("\\s+"), "a\u180Eb\u3000c"), (Strings{"a\u180Eb", "\u3000", "c"}));
  EXPECT_EQ(pre_tokenize(isolate("[^\\s]+"), "a\u180E b"), (Strings{"a\u180E", " ", "b"}));
  // Marks and all numbers are word characters.
  EXPECT_EQ(pre_tokenize(isolate("\\w+"), "e\u0301x_½!"), (Strings{"e\u0301x_½", "!"}));
  EXPECT_EQ(pre_tokenize(isolate("\\W+"), "a\u0301 b"), (Strings{"a\u0301", " ", "b"}));
  // \h is a hex digit; escaped backslashes and \Q...\E stay literal.
  EXPECT_EQ(pre_tokenize(isolate("\\h+"), "zz0fA9 "), (Strings{"zz", "0fA9", " "}));
  EXPECT_EQ(pre_tokenize(isolate("\\\\s"), "a\\sb s"), (Strings{"a", "\\s", "b s"}));
  EXPECT_EQ(pre_tokenize(isolate("\\Q\\s\\E"), "a\\sb"), (Strings{"a", "\\s", "b"}));
  EXPECT_EQ(pre_tokenize(isolate("[]\\s]+"), "a] b"), (Strings{"a", "] ", "b"}));
}

TEST(TokenizerPreTokenizer, DigitsUseUnicodeNumbers) {
  json contiguous = {{"type", "Digits"}, {"individual_digits", false}};
  EXPECT_EQ(pre_tokenize(contiguous, "ab123c45"), (Strings{"ab", "123", "c", "45"}));
  json individual = {{"type", "Digits"}, {"individual_digits", true}};
  EXPECT_EQ(pre_tokenize(individual, "x12½٣"), (Strings{"x", "1", "2", "½", "٣"}));
}

TEST(TokenizerPreTokenizer, ByteLevel) {
  json gpt2 = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(gpt2, "Hello there       dear"), (Strings{"Hello", "Ġthere", "ĠĠĠĠĠĠ", "Ġdear"}));
  EXPECT_EQ(pre_tokenize(gpt2, "i⭢j\n"), (Strings{"i", "âŃ¢", "j", "Ċ"}));
  json prefixed = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(prefixed, "Hello my"), (Strings{"ĠHello", "Ġmy"}));
  EXPECT_EQ(pre_tokenize(prefixed, " Hello"), (Strings{"ĠHello"}));
  json whole = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(pre_tokenize(whole, "a b,c"), (Strings{"aĠb,c"}));
}

TEST(TokenizerPreTokenizer, SequenceAppliesInOrder) {
  json spec = {{"type", "Sequence"},
               {"pretokenizers",
                {{{"type", "Split"}, {"pattern", {{"Regex", "[\r\n]"}}}, {"behavior", "Isolated"}},
                 {{"type", "Digits"}, {"individual_digits", true}},
                 {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  EXPECT_EQ(pre_tokenize(spec, "a 12\nb"), (Strings{"aĠ", "1", "2", "Ċ", "b"}));
}

TEST(TokenizerPreTokenizer, UnknownTypesAreErrors) {
  try {
    make_pre_tokenizer({{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}}}}, "tokenizer.json:");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tokenizer.json: pretokenizers[0]: unsupported pre_tokenizer type Whitespace");
  }
  EXPECT_THROW(make_pre_tokenizer(split("Sideways"), "t:"), Error);
  EXPECT_THROW(make_pre_tokenizer({{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
                                  "t:"),
               Error);
  EXPECT_EQ(make_pre_tokenizer(nullptr, "t:"), nullptr);
}

std::string normalize(const json& spec, std::string text) {
  make_normalizer(spec, "test:")->normalize(text);
  return text;
}

TEST(TokenizerNormalizer, ReplaceAndPrepend) {
  json replace_string = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}};
  EXPECT_EQ(normalize(replace_string, "a b  c"), "a▁b▁▁c");
  json replace_regex = {{"type", "Replace"}, {"pattern", {{"Regex", "\\s+"}}}, {"content", " "}};
  EXPECT_EQ(normalize(replace_regex, "a \t b\n"), "a b ");
  json prepend = {{"type", "Prepend"}, {"prepend", "▁"}};
  EXPECT_EQ(normalize(prepend, "ab"), "▁ab");
  EXPECT_EQ(normalize(prepend, ""), "");
  json sequence = {{"type", "Sequence"}, {"normalizers", {prepend, replace_string}}};
  EXPECT_EQ(normalize(sequence, "a b"), "▁a▁b");
  EXPECT_EQ(make_normalizer({{"type", "Sequence"}, {"normalizers", json::array()}}, "t:"), nullptr);
}

TEST(TokenizerNormalizer, UnicodeForms) {
#if DSEEK_HAVE_ICU
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\u0301"), "é");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "é"), "e\u0301");
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "ﬁ①"), "fi1");
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "ﬁé"), "fie\u0301");
#else
  try {
    make_normalizer({{"type", "NFC"}}, "tokenizer.json: normalizer");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("normalizer NFC needs"), std::string::npos) << e.what();
  }
#endif
}

TEST(TokenizerNormalizer, UnknownTypesAreErrors) {
  try {
    make_normalizer({{"type", "Lowercase"}}, "tokenizer.json: normalizer");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "tokenizer.json: normalizer: unsupported normalizer type Lowercase");
  }
}

json added_token(uint32_t id, const std::string& content, json flags = json::object()) {
  json token = {{"id", id},      {"content", content}, {"special", false}, {"normalized", false},
                {"lstrip", false}, {"rstrip", false},    {"single_word", false}};
  token.update(flags);
  return token;
}

using Splits = std::vector<std::pair<std::string, int>>;  // text, id or -1

Splits split_added(const AddedVocabulary& vocabulary, std::string_view text, bool normalized = false) {
  std::vector<Segment> segments;
  vocabulary.split(text, normalized, segments);
  Splits out;
  for (const Segment& s : segments) out.emplace_back(std::string(s.text), s.id ? static_cast<int>(*s.id) : -1);
  return out;
}

TEST(TokenizerAddedTokens, LeftmostLongestMatch) {
  AddedVocabulary vocabulary(json::array({added_token(0, "ab"), added_token(1, "abc"), added_token(2, "bcd")}),
                             nullptr, "t:");
  EXPECT_EQ(split_added(vocabulary, "xabcd"), (Splits{{"x", -1}, {"abc", 1}, {"d", -1}}));
  EXPECT_EQ(split_added(vocabulary, "abab"), (Splits{{"ab", 0}, {"ab", 0}}));
  EXPECT_EQ(split_added(vocabulary, ""), Splits{});
}

TEST(TokenizerAddedTokens, StripAndSingleWord) {
  AddedVocabulary vocabulary(json::array({added_token(0, "[CLS]", {{"special", true}}),
                                          added_token(1, "my", {{"lstrip", true}, {"rstrip", true}}),
                                          added_token(2, "name"), added_token(3, "ony", {{"single_word", true}}),
                                          added_token(4, "<mask>", {{"lstrip", true}, {"rstrip", true}})}),
                             nullptr, "t:");
  EXPECT_EQ(split_added(vocabulary, "[CLS] my name is anthony ony"),
            (Splits{{"[CLS]", 0}, {" my ", 1}, {"name", 2}, {" is anthony ", -1}, {"ony", 3}}));
  // Unicode spaces strip too; a strip never takes text an earlier token already took.
  EXPECT_EQ(split_added(vocabulary, "hi\t<mask>\u2000<mask>\u3000x"),
            (Splits{{"hi", -1}, {"\t<mask>\u2000", 4}, {"<mask>\u3000", 4}, {"x", -1}}));
  // A combining mark counts as part of a word.
  EXPECT_EQ(split_added(vocabulary, "e\u0330ony"), (Splits{{"e\u0330ony", -1}}));
}

TEST(TokenizerAddedTokens, NormalizedTokensMatchNormalizedText) {
  auto normalizer = make_normalizer({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "▁"}}, "t:");
  AddedVocabulary vocabulary(
      json::array({added_token(0, "a b", {{"normalized", true}}), added_token(1, "<raw b>", {{"normalized", false}})}),
      normalizer.get(), "t:");
  EXPECT_EQ(split_added(vocabulary, "xa▁by", true), (Splits{{"x", -1}, {"a▁b", 0}, {"y", -1}}));
  EXPECT_EQ(split_added(vocabulary, "xa by<raw b>"), (Splits{{"xa by", -1}, {"<raw b>", 1}}));
}

}  // namespace
}  // namespace dseek
