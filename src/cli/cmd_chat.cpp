#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/text_generation.h"
#include "server/chat_output.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

struct ChatOptions {
  std::string system;
  bool hide_reasoning = false;
};

std::atomic<bool> g_interrupted{false};
std::atomic<int> g_interrupt_pipe{-1};

extern "C" void on_interrupt(int) {
  int saved = errno;
  g_interrupted.store(true);
  int fd = g_interrupt_pipe.load();
  if (fd >= 0) {
    ssize_t written = ::write(fd, "i", 1);
    (void)written;  // a full pipe already wakes the reader
  }
  errno = saved;
}

// SIGINT as a flag plus a pipe that wakes poll(): whichever thread the signal lands on, the
// main thread sees it, while reading a line or while waiting for an answer.
class InterruptSignal {
 public:
  InterruptSignal() {
    if (::pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) != 0) fail("cannot create a pipe: {}", std::strerror(errno));
    g_interrupt_pipe.store(pipe_[1]);
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptSignal() {
    ::sigaction(SIGINT, &previous_, nullptr);
    g_interrupt_pipe.store(-1);
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }
  InterruptSignal(const InterruptSignal&) = delete;
  InterruptSignal& operator=(const InterruptSignal&) = delete;

  int fd() const { return pipe_[0]; }
  bool pending() const { return g_interrupted.load(); }
  // Whether SIGINT came since the last call; consumes it.
  bool take() {
    bool was = g_interrupted.exchange(false);
    char drain[64];
    while (::read(pipe_[0], drain, sizeof(drain)) > 0) {
    }
    return was;
  }

 private:
  int pipe_[2] = {-1, -1};
  struct sigaction previous_ {};
};

enum class Input { Line, End, Interrupt };

// stdin a line at a time (a terminal or a pipe), returning early on SIGINT.
class LineReader {
 public:
  Input read(InterruptSignal& signal, std::string& line) {
    while (true) {
      size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return Input::Line;
      }
      if (end_) {
        if (buffer_.empty()) return Input::End;
        line = std::move(buffer_);
        buffer_.clear();
        return Input::Line;
      }
      if (signal.take()) return Input::Interrupt;
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal.fd(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        fail("stdin: {}", std::strerror(errno));
      }
      if (fds[0].revents == 0) continue;
      char chunk[4096];
      ssize_t n = ::read(STDIN_FILENO, chunk, sizeof(chunk));
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        fail("stdin: {}", std::strerror(errno));
      }
      if (n == 0) end_ = true;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  std::string buffer_;
  bool end_ = false;
};

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

void write_out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Shows an answer as it streams: reasoning dimmed (terminal), between <think> markers (pipe) or
// not at all; whitespace around the reasoning and the reply is dropped so they sit on their own lines.
class AnswerPrinter {
 public:
  AnswerPrinter(server::ChatOutputOptions options, bool color, bool hide_reasoning)
      : parser_(options), color_(color), hide_reasoning_(hide_reasoning) {}

  void feed(std::string_view text) { show(parser_.feed(text)); }

  // The end of the answer (finished or stopped); returns the reply without its reasoning.
  std::string finish() {
    show(parser_.finish());
    if (in_reasoning_) write_out(color_ ? "\x1b[0m" : "\n</think>");
    in_reasoning_ = false;
    return trim(content_);
  }

 private:
  void show(const server::ChatDelta& delta) {
    if (!delta.reasoning.empty() && !hide_reasoning_) {
      if (!in_reasoning_) {
        segment_started_ = false;
        held_.clear();
      }
      print(delta.reasoning, true);
    }
    if (!delta.content.empty()) {
      content_ += delta.content;
      if (in_reasoning_ || !in_content_) {
        if (in_reasoning_) write_out(color_ ? "\x1b[0m\n\n" : "\n</think>\n\n");
        in_reasoning_ = false;
        in_content_ = true;
        segment_started_ = false;
        held_.clear();
      }
      print(delta.content, false);
    }
  }

  // Leading whitespace of a segment is dropped and trailing whitespace waits for more text.
  void print(std::string_view text, bool reasoning) {
    if (!segment_started_) {
      while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
      if (text.empty()) return;
      segment_started_ = true;
    }
    size_t keep = text.size();
    while (keep > 0 && is_space(text[keep - 1])) --keep;
    if (keep == 0) {
      held_ += text;
      return;
    }
    std::string out;
    if (reasoning && !in_reasoning_) {
      out = color_ ? "\x1b[2m" : "<think>\n";
      in_reasoning_ = true;
    }
    out += held_;
    out += text.substr(0, keep);
    held_ = std::string(text.substr(keep));
    write_out(out);
  }

  server::ChatOutputParser parser_;
  bool color_;
  bool hide_reasoning_;
  bool in_reasoning_ = false;  // shown reasoning is open (dim on, or <think> written)
  bool in_content_ = false;
  bool segment_started_ = false;
  std::string held_;
  std::string content_;
};

// A line like "/clear": a slash and letters only, so "/usr/bin is..." is a message.
bool is_command(const std::string& line) {
  if (line.size() < 2 || line[0] != '/') return false;
  for (size_t i = 1; i < line.size(); ++i)
    if (line[i] < 'a' || line[i] > 'z') return false;
  return true;
}

void chat(const ModelOptions& model_options, const GenerationFlags& flags, const ChatOptions& o, const CLI::App& cmd) {
  ResolvedFlags resolved = resolve_flags(flags, model_options, cmd);
  Tokenizer tokenizer = Tokenizer::load(tokenizer_dir(flags, model_options));
  ChatPrompt chat_prompt(tokenizer);
  auto model = load_model(model_options);
  finish_settings(resolved, flags, *model, tokenizer);
  const GenerationSettings& settings = resolved.settings;
  Generator generator(*model, tokenizer, settings.context);

  const bool interactive = ::isatty(STDIN_FILENO);
  const char* no_color = std::getenv("NO_COLOR");
  const bool color = ::isatty(STDOUT_FILENO) && (no_color == nullptr || *no_color == '\0');
  nlohmann::ordered_json start = nlohmann::ordered_json::array();
  if (!o.system.empty()) start.push_back({{"role", "system"}, {"content", o.system}});
  nlohmann::ordered_json messages = start;

  InterruptSignal signal;
  LineReader reader;
  if (interactive)
    std::fprintf(stderr, "/clear starts a new conversation, /exit (or Ctrl-D) leaves, Ctrl-C stops an answer\n");
  bool interrupted_at_prompt = false;
  while (true) {
    if (interactive) write_out(">>> ");
    std::string line;
    Input input = reader.read(signal, line);
    if (input == Input::End) {
      if (interactive) write_out("\n");
      break;
    }
    if (input == Input::Interrupt) {
      if (interrupted_at_prompt) {
        write_out("\n");
        break;
      }
      interrupted_at_prompt = true;
      write_out("\n");
      std::fprintf(stderr, "(Ctrl-C again, Ctrl-D or /exit leaves)\n");
      continue;
    }
    interrupted_at_prompt = false;
    std::string command = trim(line);
    if (command.empty()) continue;
    if (is_command(command)) {
      if (command == "/exit" || command == "/quit") break;
      if (command == "/clear") {
        messages = start;
        std::fprintf(stderr, "(conversation cleared)\n");
      } else {
        std::fprintf(stderr, "unknown command %s: /clear starts a new conversation, /exit leaves\n", command.c_str());
      }
      continue;
    }

    messages.push_back({{"role", "user"}, {"content", line}});
    ChatPrompt::Rendered rendered;
    std::vector<int32_t> prompt;
    try {
      rendered = chat_prompt.render(messages);
      prompt = encode_prompt(tokenizer, rendered.text, true);
      check_prompt_fits(prompt.size(), settings, model->config());
    } catch (const Error& e) {
      messages.erase(messages.size() - 1);
      std::fprintf(stderr, "error: %s\n", e.what());
      if (messages.size() > start.size()) std::fprintf(stderr, "(/clear starts a new conversation)\n");
      continue;
    }
    AnswerPrinter printer(rendered.output, color, o.hide_reasoning);
    GenerationResult result = generator.generate(
        std::move(prompt), settings, [&](std::string_view text) { printer.feed(text); },
        [&] { return signal.pending(); });
    std::string reply = printer.finish();
    write_out("\n");
    if (result.finish == FinishReason::Cancelled) {
      signal.take();
      std::fprintf(stderr, "[interrupted]\n");
    }
    if (interactive) write_out("\n");
    // What the user saw, even when cut short, is what the model sees in later turns.
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Interactive chat through the model's chat template (stdin may be a pipe)");
  auto model = std::make_shared<ModelOptions>();
  auto flags = std::make_shared<GenerationFlags>();
  auto options = std::make_shared<ChatOptions>();
  add_model_options(cmd, *model);
  cmd->add_option("--system", options->system, "System message that starts every conversation");
  cmd->add_flag("--hide-reasoning", options->hide_reasoning,
                "Do not show the model's reasoning (<think>...</think>), only its answer");
  add_generation_options(cmd, *flags);
  cmd->callback([=] { chat(*model, *flags, *options, *cmd); });
}

}  // namespace dseek::cli
