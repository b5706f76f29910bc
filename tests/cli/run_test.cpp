// `dseek run` through the real binary against the chat model fixture's e2e.json.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cli_process.h"
#include "e2e_fixture.h"

namespace dseek::cli_test {
namespace {

// The ids `--verbose-prompt` printed.
std::vector<int64_t> printed_prompt_ids(const std::string& err) {
  std::smatch match;
  std::vector<int64_t> ids;
  if (!std::regex_search(err, match, std::regex(R"(prompt ids \((\d+)\): ([0-9 ]*)\n)"))) return ids;
  std::istringstream in(match[2].str());
  for (int64_t id; in >> id;) ids.push_back(id);
  EXPECT_EQ(std::stoul(match[1].str()), ids.size());
  return ids;
}

std::string finished_by(const std::string& err) {
  std::smatch match;
  return std::regex_search(err, match, std::regex(R"(finished by ([a-z ]+)\n)")) ? match[1].str() : "";
}

std::vector<std::string> greedy(std::vector<std::string> args, int tokens) {
  args.insert(args.begin(), {"run", chat_model_dir()});
  args.insert(args.end(), {"--temp", "0", "-n", std::to_string(tokens)});
  return args;
}

TEST(RunCommand, ReproducesEveryE2eCase) {
  const auto& cases = e2e()["cases"];
  ASSERT_GE(cases.size(), 5u);
  const int max_tokens = e2e()["max_new_tokens"].get<int>();
  int index = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + std::to_string(index++));
    std::vector<std::string> args = {"--verbose-prompt"};
    std::unique_ptr<TempFile> messages;
    if (c["kind"] == "completion") {
      args.insert(args.end(), {"-p", c["prompt"].get<std::string>()});
    } else {
      const auto& m = c["messages"];
      if (m.size() == 1 && m[0]["role"] == "user") {
        args.insert(args.end(), {"--chat", "-p", m[0]["content"].get<std::string>()});
      } else if (m.size() == 2 && m[0]["role"] == "system" && m[1]["role"] == "user") {
        args.insert(args.end(), {"--chat", "--system", m[0]["content"].get<std::string>(), "-p",
                                 m[1]["content"].get<std::string>()});
      } else {
        messages = std::make_unique<TempFile>("messages.json", m.dump());
        args.insert(args.end(), {"--messages", messages->path()});
      }
    }
    ProcessResult r = run_dseek(greedy(args, max_tokens));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, c["greedy_text"].get<std::string>());
    EXPECT_EQ(printed_prompt_ids(r.err), c["prompt_ids"].get<std::vector<int64_t>>());
    size_t generated = c["greedy_ids"].size();
    EXPECT_NE(r.err.find("prompt: " + std::to_string(c["prompt_ids"].size()) + " tokens in "), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("generation: " + std::to_string(generated) + " tokens"), std::string::npos) << r.err;
    EXPECT_EQ(finished_by(r.err), static_cast<int>(generated) < max_tokens ? "eos" : "length");
    EXPECT_NE(r.err.find("loaded in "), std::string::npos) << r.err;
  }
}

TEST(RunCommand, PromptFromFileOrStdin) {
  const auto& c = e2e()["cases"][4];
  ASSERT_EQ(c["kind"], "completion");
  TempFile prompt("prompt.txt", c["prompt"].get<std::string>());
  ProcessResult from_file = run_dseek(greedy({"-f", prompt.path()}, 8));
  ASSERT_EQ(from_file.status, 0) << from_file.err;
  EXPECT_EQ(from_file.out, greedy_prefix(c, 8));
  ProcessResult from_stdin = run_dseek(greedy({"-f", "-"}, 8), c["prompt"].get<std::string>());
  ASSERT_EQ(from_stdin.status, 0) << from_stdin.err;
  EXPECT_EQ(from_stdin.out, greedy_prefix(c, 8));
}

TEST(RunCommand, StopsAtMaxTokensStopStringsAndEos) {
  const auto& c = e2e()["cases"][0];
  const std::string user = c["messages"][0]["content"];
  const std::string full = c["greedy_text"];

  ProcessResult five = run_dseek(greedy({"--chat", "-p", user}, 5));
  EXPECT_EQ(five.out, greedy_prefix(c, 5));
  EXPECT_EQ(finished_by(five.err), "length");

  // The sixth token's text as a stop string: the output ends just before its first occurrence.
  std::string stop = chat_tokenizer().decode(std::vector<uint32_t>{c["greedy_ids"][5].get<uint32_t>()}, true);
  ASSERT_FALSE(stop.empty());
  ProcessResult stopped = run_dseek(greedy({"--chat", "-p", user, "--stop", "no such text", "--stop", stop}, 24));
  ASSERT_EQ(stopped.status, 0) << stopped.err;
  EXPECT_EQ(stopped.out, full.substr(0, full.find(stop)));
  EXPECT_EQ(finished_by(stopped.err), "stop string");

  // Pushed to the top, the eos token ends generation at once and is not shown.
  ProcessResult eos = run_dseek(greedy({"--chat", "-p", user, "--logit-bias", "100001=100"}, 24));
  ASSERT_EQ(eos.status, 0) << eos.err;
  EXPECT_EQ(eos.out, "");
  EXPECT_EQ(finished_by(eos.err), "eos");
  EXPECT_NE(eos.err.find("generation: 0 tokens"), std::string::npos) << eos.err;
}

TEST(RunCommand, ContextLimitsGeneration) {
  const auto& c = e2e()["cases"][0];
  const std::string user = c["messages"][0]["content"];
  const size_t prompt_tokens = c["prompt_ids"].size();

  // Prompt plus output never exceeds --ctx.
  std::string ctx = std::to_string(prompt_tokens + 3);
  ProcessResult limited = run_dseek(greedy({"--chat", "-p", user, "--ctx", ctx}, 100));
  ASSERT_EQ(limited.status, 0) << limited.err;
  EXPECT_EQ(limited.out, greedy_prefix(c, 3));
  EXPECT_EQ(finished_by(limited.err), "length");

  // A prompt that does not fit is an error, not a truncation.
  for (size_t size : {prompt_tokens, prompt_tokens - 5}) {
    ProcessResult too_long = run_dseek(greedy({"--chat", "-p", user, "--ctx", std::to_string(size)}, 4));
    EXPECT_EQ(too_long.status, 1);
    EXPECT_EQ(too_long.out, "");
    EXPECT_NE(too_long.err.find("error: the prompt has " + std::to_string(prompt_tokens) +
                                " tokens but the context holds " + std::to_string(size)),
              std::string::npos)
        << too_long.err;
  }
}

TEST(RunCommand, UsesTheModelsGenerationConfig) {
  const auto& c = e2e()["cases"][0];
  const std::string user = c["messages"][0]["content"];
  // The fixture model with a generation_config.json: greedy, 6 tokens, and a second eos id that
  // the greedy continuation reaches as its fourth token.
  auto dir = std::filesystem::temp_directory_path() / ("dseek_run_genconfig_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    std::filesystem::create_symlink(std::filesystem::path(chat_model_dir()) / file, dir / file);
  nlohmann::json generation = {{"do_sample", false},
                               {"max_new_tokens", 6},
                               {"eos_token_id", {100001, c["greedy_ids"][3]}}};
  std::ofstream(dir / "generation_config.json") << generation.dump();

  ProcessResult defaults = run_dseek({"run", dir.string(), "--chat", "-p", user});
  ProcessResult limited = run_dseek({"run", dir.string(), "--chat", "-p", user, "-n", "2"});
  ProcessResult sampled = run_dseek({"run", dir.string(), "--chat", "-p", user, "--temp", "1", "--seed", "3",
                                     "--logit-bias", c["greedy_ids"][3].dump() + "=-inf"});
  std::filesystem::remove_all(dir);

  ASSERT_EQ(defaults.status, 0) << defaults.err;
  EXPECT_EQ(defaults.out, greedy_prefix(c, 3));
  EXPECT_EQ(finished_by(defaults.err), "eos");
  ASSERT_EQ(limited.status, 0) << limited.err;
  EXPECT_EQ(limited.out, greedy_prefix(c, 2));
  EXPECT_EQ(finished_by(limited.err), "length");
  // Flags override the defaults; max_new_tokens still applies.
  ASSERT_EQ(sampled.status, 0) << sampled.err;
  EXPECT_NE(sampled.err.find("generation: 6 tokens"), std::string::npos) << sampled.err;
}

TEST(RunCommand, SeededSamplingIsReproducible) {
  std::vector<std::string> args = {"run", chat_model_dir(), "-p", "The quick brown fox", "-n", "16",
                                   "--temp", "0.9", "--top-k", "50", "--top-p", "0.95", "--min-p", "0.01",
                                   "--repeat-penalty", "1.1", "--presence-penalty", "0.5",
                                   "--frequency-penalty", "0.5", "--logit-bias", "100001=-inf"};
  args.insert(args.end(), {"--seed", "7"});
  ProcessResult first = run_dseek(args);
  ProcessResult second = run_dseek(args);
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_FALSE(first.out.empty());
  EXPECT_EQ(first.out, second.out);
  EXPECT_EQ(finished_by(first.err), "length");
}

TEST(RunCommand, BadArgumentsAreClearErrors) {
  const std::string model = chat_model_dir();
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const Case cases[] = {
      {{"run", model}, "error: give the prompt with one of -p TEXT, -f FILE or --messages FILE\n"},
      {{"run", model, "-p", "x", "-f", "y"}, "error: give the prompt with one of -p TEXT, -f FILE or --messages FILE\n"},
      {{"run", model, "-p", "x", "--system", "s"}, "error: --system needs --chat\n"},
      {{"run", model, "-p", "x", "--top-p", "0"}, "error: top_p must be in (0, 1], got 0\n"},
      {{"run", model, "-p", "x", "--logit-bias", "5"}, "error: --logit-bias 5: expected TOKEN_ID=BIAS, e.g. 100001=-inf\n"},
      {{"run", model, "-p", "x", "--logit-bias", "5=big"}, "error: --logit-bias 5=big: \"big\" is not a number\n"},
      {{"run", model, "-p", "x", "--stop", ""}, "error: --stop: the stop text is empty\n"},
      {{"run", model, "-p", "x", "-n", "0"},
       "error: -n 0 would generate nothing: give a positive count, or -1 for no limit\n"},
      {{"run", model, "-f", "/nonexistent/prompt.txt"}, "error: -f: cannot open /nonexistent/prompt.txt\n"},
  };
  for (const Case& c : cases) {
    ProcessResult r = run_dseek(c.args);
    EXPECT_EQ(r.status, 1) << c.error;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, c.error);
  }
  ProcessResult vocab = run_dseek({"run", model, "-p", "x", "--logit-bias", "102400=1"});
  EXPECT_EQ(vocab.status, 1);
  EXPECT_NE(vocab.err.find("error: --logit-bias: token 102400 is outside the model's vocabulary of 102400 tokens"),
            std::string::npos)
      << vocab.err;
}

// A GGUF file from `dseek quantize` carries the tokenizer and chat template: no --tokenizer needed.
TEST(RunCommand, GgufModelBringsItsTokenizer) {
  TempFile gguf("chat_f32.gguf", "");
  ProcessResult quantized = run_dseek({"quantize", chat_model_dir(), gguf.path(), "--type", "F32"});
  ASSERT_EQ(quantized.status, 0) << quantized.err;
  const auto& c = e2e()["cases"][0];
  ASSERT_EQ(c["messages"].size(), 1u);
  ProcessResult r = run_dseek({"run", gguf.path(), "--chat", "-p", c["messages"][0]["content"].get<std::string>(),
                               "--verbose-prompt", "--temp", "0", "-n", std::to_string(e2e()["max_new_tokens"].get<int>())});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(printed_prompt_ids(r.err), c["prompt_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(r.out, c["greedy_text"].get<std::string>());

  // Without tokenizer keys, the error names the file and the way out.
  TempFile bare("bare.gguf", "");
  ASSERT_EQ(run_dseek({"quantize", std::string(DSEEK_FIXTURES) + "/models/v2-lite-tiny", bare.path()}).status, 0);
  ProcessResult no_tokenizer = run_dseek({"run", bare.path(), "-p", "x"});
  EXPECT_EQ(no_tokenizer.status, 1);
  EXPECT_NE(no_tokenizer.err.find("error: " + bare.path() + ": the GGUF file has no tokenizer"), std::string::npos)
      << no_tokenizer.err;
  EXPECT_NE(no_tokenizer.err.find("give --tokenizer DIR"), std::string::npos) << no_tokenizer.err;
}

// `quantize --split-max-size` writes shards as llama.cpp's gguf-split names them; the first is
// the model, tokenizer and chat template included.
TEST(RunCommand, SplitGgufFromItsFirstShard) {
  TempFile out("split.gguf", "");
  ProcessResult quantized = run_dseek({"quantize", chat_model_dir(), out.path(), "--type", "F32", "--split-max-size", "8M"});
  ASSERT_EQ(quantized.status, 0) << quantized.err;
  std::vector<std::string> shards;
  std::istringstream lines(quantized.err);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("wrote ")) shards.push_back(line.substr(6));
  struct Remove {
    const std::vector<std::string>& paths;
    ~Remove() {
      for (const std::string& path : paths) std::filesystem::remove(path);
    }
  } remove{shards};
  ASSERT_GE(shards.size(), 3u) << quantized.err;
  const std::string prefix = out.path().substr(0, out.path().size() - 5);
  EXPECT_EQ(shards.front(), fmt::format("{}-00001-of-{:05d}.gguf", prefix, shards.size()));

  const auto& c = e2e()["cases"][0];
  ProcessResult r = run_dseek({"run", shards.front(), "--chat", "-p", c["messages"][0]["content"].get<std::string>(), "--temp",
                               "0", "-n", std::to_string(e2e()["max_new_tokens"].get<int>())});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, c["greedy_text"].get<std::string>());
}

}  // namespace
}  // namespace dseek::cli_test
