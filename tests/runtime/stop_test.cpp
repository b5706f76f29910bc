#include "runtime/stop.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"

namespace dseek {
namespace {

struct Run {
  std::string text;
  bool stopped = false;
  std::vector<std::string> outputs;  // what each feed returned
};

// Feeds the pieces, then flushes when no stop string matched, as a generation loop does.
Run run(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher matcher(stops);
  Run result;
  for (const std::string& piece : pieces) {
    StopMatcher::Output out = matcher.feed(piece);
    result.text += out.text;
    result.outputs.push_back(out.text);
    result.stopped = out.stopped;
    if (out.stopped) return result;
  }
  result.text += matcher.flush();
  return result;
}

// Whether `text` is whole UTF-8 characters (structure only).
bool whole_utf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length =
        lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

// Every way of cutting `text` into three pieces (empty pieces included) must give `expected`.
void expect_all_splits(const std::vector<std::string>& stops, const std::string& text,
                       const std::string& expected, bool stopped) {
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      const std::vector<std::string> pieces = {text.substr(0, i), text.substr(i, j - i),
                                               text.substr(j)};
      const Run result = run(stops, pieces);
      ASSERT_EQ(result.text, expected) << "split at " << i << ", " << j;
      ASSERT_EQ(result.stopped, stopped) << "split at " << i << ", " << j;
      for (const std::string& out : result.outputs) {
        ASSERT_TRUE(whole_utf8(out)) << "split at " << i << ", " << j << ": " << out;
      }
    }
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  const Run result = run(stops, bytes);
  EXPECT_EQ(result.text, expected);
  EXPECT_EQ(result.stopped, stopped);
}

TEST(StopMatcher, StopStringAcrossEverySplit) {
  expect_all_splits({"<|stop|>"}, "Hello world<|stop|> trailing", "Hello world", true);
}

TEST(StopMatcher, FalseStartsAndSeveralStopsAcrossEverySplit) {
  // "Welt!!" starts to match at "Welt!" and then fails; "ENDE" is the one that stops.
  expect_all_splits({"ENDE", "Welt!!"}, "Grüße, Welt! <ENDE> danach", "Grüße, Welt! <", true);
  expect_all_splits({"ENDE", "Welt!!"}, "Grüße, Welt! END", "Grüße, Welt! END", false);
}

TEST(StopMatcher, HoldsBackOnlyWhatCouldStartAStopString) {
  StopMatcher matcher({"<|stop|>"});
  EXPECT_EQ(matcher.feed("Hello <|st").text, "Hello ");
  StopMatcher::Output out = matcher.feed("op");
  EXPECT_EQ(out.text, "");
  EXPECT_FALSE(out.stopped);
  out = matcher.feed("|> more");
  EXPECT_EQ(out.text, "");
  EXPECT_TRUE(out.stopped);
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.matched(), "<|stop|>");
  // Nothing more once stopped.
  out = matcher.feed("again");
  EXPECT_EQ(out.text, "");
  EXPECT_TRUE(out.stopped);
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopMatcher, ReleasesAFalseStart) {
  StopMatcher matcher({"<|stop|>"});
  EXPECT_EQ(matcher.feed("a <|").text, "a ");
  EXPECT_EQ(matcher.feed("x").text, "<|x");
  EXPECT_FALSE(matcher.stopped());
  EXPECT_EQ(matcher.matched(), "");
}

TEST(StopMatcher, StopInTheMiddleOfAPiece) {
  StopMatcher matcher({"STOP"});
  const StopMatcher::Output out = matcher.feed("abcSTOPdef");
  EXPECT_EQ(out.text, "abc");
  EXPECT_TRUE(out.stopped);
}

TEST(StopMatcher, EarliestMatchWins) {
  StopMatcher matcher({"world", "lo"});
  EXPECT_EQ(matcher.feed("hello world").text, "hel");
  EXPECT_EQ(matcher.matched(), "lo");
}

TEST(StopMatcher, SelfOverlappingStopString) {
  // After "aa" fails on a third "a", the last two may still start "aab".
  EXPECT_EQ(run({"aab"}, {"a", "a", "a", "b", "c"}).text, "a");
  EXPECT_EQ(run({"aab"}, {"a", "a", "a", "c"}).text, "aaac");
}

TEST(StopMatcher, FlushReturnsTheHeldBackTail) {
  StopMatcher matcher({"<|stop|>"});
  EXPECT_EQ(matcher.feed("end <|sto").text, "end ");
  EXPECT_EQ(matcher.flush(), "<|sto");
  EXPECT_FALSE(matcher.stopped());
}

TEST(StopMatcher, WithoutStopStringsPassesTextThrough) {
  StopMatcher matcher({});
  EXPECT_EQ(matcher.feed("one ").text, "one ");
  EXPECT_EQ(matcher.feed("two").text, "two");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopMatcher, NeverSplitsAUtf8Character) {
  StopMatcher matcher({});
  EXPECT_EQ(matcher.feed("caf\xC3").text, "caf");
  EXPECT_EQ(matcher.feed("\xA9!").text, "\xC3\xA9!");
  EXPECT_EQ(matcher.feed("\xF0\x9F").text, "");  // half of U+1F600
  EXPECT_EQ(matcher.feed("\x98\x80").text, "\xF0\x9F\x98\x80");
  EXPECT_EQ(matcher.feed("x\xE2\x82").text, "x");
  // At the end, whatever is left comes out even if incomplete.
  EXPECT_EQ(matcher.flush(), "\xE2\x82");
}

TEST(StopMatcher, EmptyStopStringIsAnError) {
  EXPECT_THROW(StopMatcher({"ok", ""}), Error);
}

TEST(StopContext, ReturnsTheTokensThatFit) {
  EXPECT_EQ(check_context(10, 100, 4096), 100);
  EXPECT_EQ(check_context(10, 100, 50), 40);
  EXPECT_EQ(check_context(49, 100, 50), 1);
  EXPECT_EQ(check_context(10, 0, 50), 0);
}

TEST(StopContext, APromptThatDoesNotFitIsAClearError) {
  for (size_t prompt : {8u, 9u}) {
    try {
      check_context(prompt, 10, 8);
      ADD_FAILURE() << "no error for a prompt of " << prompt;
    } catch (const Error& e) {
      const std::string expected =
          "prompt has " + std::to_string(prompt) + " tokens but the context is 8";
      EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
    }
  }
  EXPECT_THROW(check_context(0, 10, 8), Error);
  EXPECT_THROW(check_context(1, -1, 8), Error);
  EXPECT_THROW(check_context(1, 10, 0), Error);
}

}  // namespace
}  // namespace dseek
