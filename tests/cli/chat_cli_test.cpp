// `dseek chat` through the real binary: on a pseudo-terminal as a user types, and with piped stdin.
#include <filesystem>

#include <gtest/gtest.h>

#include "cli_process.h"
#include "e2e_fixture.h"

namespace dseek::cli_test {
namespace {

constexpr size_t npos = std::string::npos;

const nlohmann::json& first_case() {
  const nlohmann::json& c = e2e()["cases"][0];
  EXPECT_EQ(c["messages"].size(), 1u);
  return c;
}

std::string first_question() { return first_case()["messages"][0]["content"]; }

// Types a line at the prompt and returns the answer the terminal showed before the next prompt.
std::string turn(TerminalSession& session, const std::string& line) {
  size_t from = session.size();
  session.type(line + "\n");
  size_t prompt = session.wait_for(">>> ", from);
  EXPECT_NE(prompt, npos) << session.output();
  if (prompt == npos) return "";
  std::string shown = session.output().substr(from, prompt - from);
  // The terminal echoes the typed line before the answer.
  EXPECT_EQ(shown.rfind(line + "\n", 0), 0u) << shown;
  return trim(shown.substr(std::min(shown.size(), line.size() + 1)));
}

// What `dseek run` answers to these messages (greedy, `tokens` tokens), trimmed as chat shows it.
std::string run_answer(const nlohmann::json& messages, int tokens) {
  TempFile file("chat_messages.json", messages.dump());
  ProcessResult r = run_dseek({"run", chat_model_dir(), "--messages", file.path(), "--temp", "0", "-n",
                               std::to_string(tokens)});
  EXPECT_EQ(r.status, 0) << r.err;
  return trim(r.out);
}

TEST(ChatCli, MultiTurnAndClearOnTerminal) {
  const std::string question = first_question();
  const std::string expected = trim(greedy_prefix(first_case(), 8));
  ASSERT_FALSE(expected.empty());
  TerminalSession session({"chat", chat_model_dir(), "--temp", "0", "-n", "8"});
  ASSERT_NE(session.wait_for(">>> ", 0), npos) << session.output();

  std::string first = turn(session, question);
  EXPECT_EQ(first, expected);

  // The second turn sees the first: the same as `run` with the whole conversation.
  const std::string follow_up = "Another one, about caches & 42 tokens.";
  std::string second = turn(session, follow_up);
  nlohmann::json history = nlohmann::json::array({{{"role", "user"}, {"content", question}},
                                                  {{"role", "assistant"}, {"content", first}},
                                                  {{"role", "user"}, {"content", follow_up}}});
  EXPECT_EQ(second, run_answer(history, 8));
  nlohmann::json alone = nlohmann::json::array({{{"role", "user"}, {"content", follow_up}}});
  EXPECT_NE(second, run_answer(alone, 8));

  // After /clear the first question gets the first answer again.
  size_t from = session.size();
  session.type("/clear\n");
  size_t cleared = session.wait_for("(conversation cleared)", from);
  ASSERT_NE(cleared, npos) << session.output();
  ASSERT_NE(session.wait_for(">>> ", cleared), npos);
  EXPECT_EQ(turn(session, question), expected);

  // Ctrl-C at the prompt says how to leave; a second one leaves.
  from = session.size();
  session.type("\x03");
  size_t hint = session.wait_for("(Ctrl-C again, Ctrl-D or /exit leaves)", from);
  ASSERT_NE(hint, npos) << session.output();
  ASSERT_NE(session.wait_for(">>> ", hint), npos) << session.output();
  session.type("\x03");
  EXPECT_EQ(session.wait_exit(), 0) << session.output();
}

TEST(ChatCli, CtrlCStopsTheAnswerWithoutLeaving) {
  const std::string question = first_question();
  const std::string full = first_case()["greedy_text"];
  // No token limit and the model's whole context: the answer would run for minutes.
  TerminalSession session({"chat", chat_model_dir(), "--temp", "0", "--ctx", "0"});
  ASSERT_NE(session.wait_for(">>> ", 0), npos) << session.output();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    size_t from = session.size();
    session.type(question + "\n");
    size_t answer = from + question.size() + 1;
    ASSERT_TRUE(session.wait_for_size(answer + 40)) << session.output();
    // Only what was shown before Ctrl-C: the terminal may drop queued output on SIGINT.
    std::string partial = trim(session.output().substr(answer));
    session.type("\x03");
    size_t stopped = session.wait_for("[interrupted]", answer, std::chrono::seconds(20));
    ASSERT_NE(stopped, npos) << session.output();
    ASSERT_NE(session.wait_for(">>> ", stopped, std::chrono::seconds(20)), npos) << session.output();
    size_t common = std::min(partial.size(), full.size());
    EXPECT_EQ(partial.substr(0, common), full.substr(0, common));

    from = session.size();
    session.type("/clear\n");
    ASSERT_NE(session.wait_for("(conversation cleared)", from), npos) << session.output();
    ASSERT_NE(session.wait_for(">>> ", from), npos);
  }
  session.type("\x04");  // Ctrl-D on an empty line: end of input
  EXPECT_EQ(session.wait_exit(), 0) << session.output();
}

TEST(ChatCli, PipedStdinAnswersEachLine) {
  const std::string question = first_question();
  const std::string expected = trim(greedy_prefix(first_case(), 8));
  std::string input = question + "\n/foo\n/clear\n" + question + "\n/exit\nnever answered\n";
  ProcessResult r = run_dseek({"chat", chat_model_dir(), "--temp", "0", "-n", "8"}, input);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n" + expected + "\n");
  EXPECT_NE(r.err.find("(conversation cleared)"), npos) << r.err;
  EXPECT_NE(r.err.find("unknown command /foo"), npos) << r.err;

  // A system message, and input that ends without a newline.
  const nlohmann::json& c = e2e()["cases"][1];
  ASSERT_EQ(c["messages"][0]["role"], "system");
  ProcessResult system = run_dseek({"chat", chat_model_dir(), "--temp", "0", "-n", "8", "--system",
                                    c["messages"][0]["content"].get<std::string>()},
                                   c["messages"][1]["content"].get<std::string>());
  ASSERT_EQ(system.status, 0) << system.err;
  EXPECT_EQ(system.out, trim(greedy_prefix(c, 8)) + "\n");
}

TEST(ChatCli, FullContextIsReportedAndChatGoesOn) {
  const std::string question = first_question();
  const size_t prompt_tokens = first_case()["prompt_ids"].size();
  const std::string expected = trim(greedy_prefix(first_case(), 3));
  std::string input = question + "\nAnother one, about caches & 42 tokens.\n/clear\n" + question + "\n";
  ProcessResult r = run_dseek(
      {"chat", chat_model_dir(), "--temp", "0", "-n", "8", "--ctx", std::to_string(prompt_tokens + 3)}, input);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected + "\n" + expected + "\n");
  EXPECT_NE(r.err.find("error: the prompt has "), npos) << r.err;
  EXPECT_NE(r.err.find("(/clear starts a new conversation)"), npos) << r.err;
}

// R1's template opens <think> in the generation prompt, so everything the model says is reasoning.
class ChatCliReasoning : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dseek_chat_r1_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    for (const char* file : {"tokenizer.json", "tokenizer_config.json"})
      std::filesystem::create_symlink(std::filesystem::path(chat_model_dir()) / file, dir_ / file);
    std::filesystem::copy_file(
        std::filesystem::path(DSEEK_FIXTURES) / "chat-templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        dir_ / "chat_template.jinja");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> all = {chat_model_dir(), "--tokenizer", dir_.string(), "--temp", "0", "-n", "8"};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }

  std::filesystem::path dir_;
};

TEST_F(ChatCliReasoning, MarkedInPipesDimmedOnTerminalsOrHidden) {
  const std::string question = first_question();
  std::vector<std::string> run = args({"--chat", "-p", question});
  run.insert(run.begin(), "run");
  ProcessResult raw = run_dseek(run);
  ASSERT_EQ(raw.status, 0) << raw.err;
  const std::string reasoning = trim(raw.out);
  ASSERT_FALSE(reasoning.empty());

  std::vector<std::string> chat = args({});
  chat.insert(chat.begin(), "chat");
  ProcessResult piped = run_dseek(chat, question + "\n");
  ASSERT_EQ(piped.status, 0) << piped.err;
  EXPECT_EQ(piped.out, "<think>\n" + reasoning + "\n</think>\n");

  std::vector<std::string> hidden = chat;
  hidden.push_back("--hide-reasoning");
  ProcessResult quiet = run_dseek(hidden, question + "\n");
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "\n");

  TerminalSession session(chat);
  ASSERT_NE(session.wait_for(">>> ", 0), npos) << session.output();
  EXPECT_EQ(turn(session, question), "\x1b[2m" + reasoning + "\x1b[0m");
}

}  // namespace
}  // namespace dseek::cli_test
