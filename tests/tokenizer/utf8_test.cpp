#include <gtest/gtest.h>

#include "tokenizer/utf8.h"

namespace dseek {
namespace {

const std::string kFffd = "\uFFFD";

TEST(TokenizerUtf8, LossyReplacesMaximalIllFormedRuns) {
  EXPECT_EQ(utf8::lossy("héllo 😀"), "héllo 😀");
  EXPECT_EQ(utf8::lossy("\xC3"), kFffd);
  EXPECT_EQ(utf8::lossy("\xE4\xB8" "a"), kFffd + "a");
  EXPECT_EQ(utf8::lossy("\xF0\x9F\x98" "a"), kFffd + "a");
  // Surrogates and overlong forms: the lead byte alone is the ill-formed run.
  EXPECT_EQ(utf8::lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(utf8::lossy("\xC0\xAF"), kFffd + kFffd);
  EXPECT_EQ(utf8::lossy("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);
  EXPECT_EQ(utf8::lossy("a\xFF" "b"), "a" + kFffd + "b");
}

TEST(TokenizerUtf8, FindInvalid) {
  EXPECT_EQ(utf8::find_invalid("plain ascii"), std::string::npos);
  EXPECT_EQ(utf8::find_invalid("日本語"), std::string::npos);
  EXPECT_EQ(utf8::find_invalid("ab\xE6\x97"), 2u);
  EXPECT_EQ(utf8::find_invalid("\xED\xBF\xBF"), 0u);
}

TEST(TokenizerUtf8, StreamingEqualsOneShotForEverySplit) {
  const std::vector<std::string> samples = {"a日😀b", "\xE4\xB8" "a\xF0\x9F", "x\xED\xA0\x80y", "é\xC3"};
  for (const std::string& sample : samples) {
    for (size_t cut = 0; cut <= sample.size(); ++cut) {
      utf8::LossyDecoder decoder;
      std::string first, second, rest;
      decoder.push(sample.substr(0, cut), first);
      decoder.push(sample.substr(cut), second);
      decoder.finish(rest);
      EXPECT_EQ(first + second + rest, utf8::lossy(sample)) << "cut at " << cut;
      // Only whole characters come out before the end of the stream.
      EXPECT_EQ(utf8::find_invalid(first), std::string::npos);
    }
  }
}

TEST(TokenizerUtf8, CodePoints) {
  std::string text;
  for (char32_t cp : {U'a', U'é', U'日', U'😀'}) utf8::append(text, cp);
  EXPECT_EQ(text, "aé日😀");
  size_t pos = 0;
  EXPECT_EQ(utf8::next(text, pos), U'a');
  EXPECT_EQ(utf8::next(text, pos), U'é');
  EXPECT_EQ(utf8::next(text, pos), U'日');
  EXPECT_EQ(utf8::next(text, pos), U'😀');
  EXPECT_EQ(pos, text.size());
  EXPECT_EQ(utf8::last_before(text, text.size()), U'😀');
  EXPECT_EQ(utf8::last_before(text, 3), U'é');
}

}  // namespace
}  // namespace dseek
