#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/text_generation.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

struct RunOptions {
  std::string prompt;
  std::string file;
  std::string messages;
  std::string system;
  bool chat = false;
  bool verbose_prompt = false;
};

std::string read_file(const std::string& path, const char* option) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    if (std::cin.bad()) fail("{}: cannot read stdin", option);
    return std::move(text).str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open {}", option, path);
  text << in.rdbuf();
  if (in.bad()) fail("{}: cannot read {}", option, path);
  return std::move(text).str();
}

// An OpenAI-style list of messages, bare or as a request's "messages".
nlohmann::ordered_json read_messages(const std::string& path) {
  nlohmann::ordered_json messages;
  try {
    messages = nlohmann::ordered_json::parse(read_file(path, "--messages"));
  } catch (const nlohmann::json::parse_error& e) {
    fail("--messages {}: invalid JSON: {}", path, e.what());
  }
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  if (!messages.is_array()) fail("--messages {}: expected a JSON list of messages", path);
  return messages;
}

// The prompt text, and whether it is a rendered chat (which holds its own BOS).
std::pair<std::string, bool> prompt_text(const RunOptions& o, const CLI::App& cmd, const Tokenizer& tokenizer) {
  int sources = (cmd.count("--prompt") > 0) + !o.file.empty() + !o.messages.empty();
  if (sources != 1) fail("give the prompt with one of -p TEXT, -f FILE or --messages FILE");
  bool chat = o.chat || !o.messages.empty();
  if (!o.system.empty() && !chat) fail("--system needs --chat");
  std::string text = !o.file.empty() ? read_file(o.file, "-f") : o.prompt;
  if (!chat) return {text, false};
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  if (o.messages.empty()) {
    messages.push_back({{"role", "user"}, {"content", text}});
  } else {
    for (auto& message : read_messages(o.messages)) messages.push_back(std::move(message));
  }
  return {ChatPrompt(tokenizer).render(messages).text, true};
}

void run(const ModelOptions& model_options, const GenerationFlags& flags, const RunOptions& o, const CLI::App& cmd) {
  ResolvedFlags resolved = resolve_flags(flags, model_options, cmd);
  Tokenizer tokenizer = Tokenizer::load(tokenizer_dir(flags, model_options));
  auto [text, chat] = prompt_text(o, cmd, tokenizer);
  std::vector<int32_t> prompt = encode_prompt(tokenizer, text, chat);
  if (o.verbose_prompt) {
    std::string ids;
    for (int32_t id : prompt) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    std::fprintf(stderr, "prompt ids (%zu): %s\n", prompt.size(), ids.c_str());
  }

  auto model = load_model(model_options);
  finish_settings(resolved, flags, *model, tokenizer);
  check_prompt_fits(prompt.size(), resolved.settings, model->config());
  Generator generator(*model, tokenizer, resolved.settings.context);
  GenerationResult result = generator.generate(
      std::move(prompt), resolved.settings,
      [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      },
      [] { return false; });
  // A terminal's next prompt should not start on the completion's last line; a pipe gets the text exactly.
  if (::isatty(STDOUT_FILENO)) std::fputc('\n', stdout);
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) fail("stdout: write error");
  print_stats(result);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt, streamed to stdout");
  auto model = std::make_shared<ModelOptions>();
  auto flags = std::make_shared<GenerationFlags>();
  auto options = std::make_shared<RunOptions>();
  add_model_options(cmd, *model);
  cmd->add_option("-p,--prompt", options->prompt, "The prompt");
  cmd->add_option("-f,--file", options->file, "Read the prompt from this file (- for stdin)");
  cmd->add_flag("--chat", options->chat, "Wrap the prompt in the model's chat template, as the user's message");
  cmd->add_option("--system", options->system, "With --chat: a system message first");
  cmd->add_option("--messages", options->messages,
                  "JSON file: a list of chat messages ({\"role\", \"content\"}) to answer; implies --chat");
  cmd->add_flag("--verbose-prompt", options->verbose_prompt, "Print the prompt's token ids to stderr");
  add_generation_options(cmd, *flags);
  cmd->callback([=] { run(*model, *flags, *options, *cmd); });
}

}  // namespace dseek::cli
