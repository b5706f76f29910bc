#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

struct ChatTemplateOptions {
  std::string dir;
  std::string messages;
  std::string tools;
  std::string template_name;
  bool add_generation_prompt = false;
  std::vector<std::string> vars;
};

nlohmann::ordered_json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}", path);
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
}

// --var NAME=JSON
std::pair<std::string, nlohmann::ordered_json> parse_var(const std::string& var) {
  size_t eq = var.find('=');
  if (eq == std::string::npos || eq == 0) fail("--var {}: expected NAME=JSON", var);
  try {
    return {var.substr(0, eq), nlohmann::ordered_json::parse(var.substr(eq + 1))};
  } catch (const nlohmann::json::parse_error&) {
    fail("--var {}: the value is not JSON (write strings quoted: {}='\"text\"')", var, var.substr(0, eq));
  }
}

void run(const ChatTemplateOptions& options) {
  ChatRequest request;
  nlohmann::ordered_json messages = read_json_file(options.messages);
  // A bare list, or an object holding it the way chat requests do.
  if (messages.is_object() && messages.contains("messages")) messages = messages["messages"];
  if (!messages.is_array()) fail("{}: expected a JSON list of messages", options.messages);
  request.messages = std::move(messages);
  if (!options.tools.empty()) {
    request.tools = read_json_file(options.tools);
    if (!request.tools->is_array()) fail("{}: expected a JSON list of tools", options.tools);
  }
  request.add_generation_prompt = options.add_generation_prompt;
  for (const std::string& var : options.vars) {
    auto [name, value] = parse_var(var);
    request.extra[name] = std::move(value);
  }
  TokenizerConfig config = TokenizerConfig::load(options.dir);
  const ChatTemplate& source = select_chat_template(config, options.template_name, request.tools.has_value());
  CompiledChatTemplate chat_template = CompiledChatTemplate::parse(source.source, source.name);
  std::string prompt = chat_template.render(build_chat_context(request, config));
  if (std::fwrite(prompt.data(), 1, prompt.size(), stdout) != prompt.size() || std::fflush(stdout) != 0) {
    fail("stdout: write error");
  }
}

}  // namespace

void add_chat_template_command(CLI::App& app) {
  auto options = std::make_shared<ChatTemplateOptions>();
  auto* cmd = app.add_subcommand("chat-template", "Render a model's chat template and print the prompt, exactly");
  cmd->add_option("DIR", options->dir, "Model directory (tokenizer_config.json, or chat_template.jinja)")->required();
  cmd->add_option("--messages", options->messages, "JSON file: the list of messages")->required();
  cmd->add_flag("--add-generation-prompt", options->add_generation_prompt, "End with the assistant turn's opening");
  cmd->add_option("--tools", options->tools, "JSON file: the list of tool definitions");
  cmd->add_option("--var", options->vars, "Extra template variables NAME=JSON, e.g. thinking=true");
  cmd->add_option("--template", options->template_name, "Named template, when the model has several");
  cmd->callback([options] { run(*options); });
}

}  // namespace dseek::cli
