// `dseek tokenize` / `dseek detokenize` through the real binary.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace dseek {
namespace {

struct CliResult {
  int status;
  std::string output;  // stdout and stderr
};

// Runs the binary with `input` on stdin.
CliResult run_dseek(const std::string& arguments, const std::string& input) {
  auto input_path = std::filesystem::temp_directory_path() / ("dseek_cli_input_" + std::to_string(::getpid()));
  std::ofstream(input_path, std::ios::binary) << input;
  std::string command = std::string(DSEEK_BINARY) + " " + arguments + " < " + input_path.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  CliResult result{-1, ""};
  if (pipe == nullptr) return result;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::filesystem::remove(input_path);
  return result;
}

std::string join(const std::vector<uint32_t>& ids) {
  std::ostringstream out;
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  return out.str();
}

TEST(TokenizerCli, TokenizeAndDetokenize) {
  const std::string dir = testing::tokenizer_fixture("deepseek-llm").string();
  const Tokenizer& tokenizer = testing::fixture_tokenizer("deepseek-llm");
  const std::string text = "Hello, y'all! 今天天气很好。\n  indented 1234\n";

  CliResult tokenized = run_dseek("tokenize " + dir, text);
  ASSERT_EQ(tokenized.status, 0) << tokenized.output;
  EXPECT_EQ(tokenized.output, join(tokenizer.encode(text)) + "\n");

  CliResult with_bos = run_dseek("tokenize --bos " + dir, text);
  EXPECT_EQ(with_bos.output, join(tokenizer.encode(text, true)) + "\n");
  EXPECT_EQ(with_bos.output.rfind("100000 ", 0), 0u);

  CliResult detokenized = run_dseek("detokenize " + dir, with_bos.output);
  ASSERT_EQ(detokenized.status, 0) << detokenized.output;
  EXPECT_EQ(detokenized.output, "<｜begin▁of▁sentence｜>" + text);
  EXPECT_EQ(run_dseek("detokenize --skip-special-tokens " + dir, with_bos.output).output, text);
}

TEST(TokenizerCli, ErrorsAreReported) {
  const std::string dir = testing::tokenizer_fixture("deepseek-llm").string();
  CliResult bad_id = run_dseek("detokenize " + dir, "17464 hello");
  EXPECT_EQ(bad_id.status, 1);
  EXPECT_EQ(bad_id.output, "error: stdin: hello is not a token id\n");
  CliResult no_tokenizer = run_dseek("tokenize /nonexistent", "x");
  EXPECT_EQ(no_tokenizer.status, 1);
  EXPECT_EQ(no_tokenizer.output, "error: /nonexistent: no tokenizer.json in this directory\n");
  CliResult bad_text = run_dseek("tokenize " + dir, "\xFF");
  EXPECT_EQ(bad_text.status, 1);
  EXPECT_EQ(bad_text.output, "error: tokenizer: input text is not valid UTF-8 (byte 0)\n");
}

}  // namespace
}  // namespace dseek
