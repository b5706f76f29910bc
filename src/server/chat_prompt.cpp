#include "server/chat_prompt.h"

#include <regex>

#include "server/api_error.h"

namespace dseek::server {
namespace {

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Assistant tool calls with their arguments parsed from JSON text (left as they are if not JSON).
nlohmann::ordered_json with_object_arguments(nlohmann::ordered_json messages) {
  for (auto& message : messages) {
    auto calls = message.find("tool_calls");
    if (calls == message.end() || !calls->is_array()) continue;
    for (auto& call : *calls) {
      auto& arguments = call["function"]["arguments"];
      if (!arguments.is_string()) continue;
      auto parsed = nlohmann::ordered_json::parse(arguments.get<std::string>(), nullptr, false);
      if (!parsed.is_discarded()) arguments = std::move(parsed);
    }
  }
  return messages;
}

}  // namespace

ChatPrompts::ChatPrompts(TokenizerConfig config, const std::string& override_source) : config_(std::move(config)) {
  if (!override_source.empty()) config_.chat_templates = {ChatTemplate{"default", override_source}};
  for (const ChatTemplate& t : config_.chat_templates) {
    ToolCallSyntax tools = ToolCallSyntax::None;
    if (t.source.find("<｜tool▁calls▁begin｜>") != std::string::npos) tools = ToolCallSyntax::DeepSeek;
    else if (t.source.find("｜DSML｜") != std::string::npos) tools = ToolCallSyntax::Dsml;
    bool reasoning = t.source.find("<think>") != std::string::npos || t.source.find("</think>") != std::string::npos;
    static const std::regex kObjectArguments(R"(arguments['"]?\]?\s*\|\s*tojson)");
    bool object_arguments = std::regex_search(t.source, kObjectArguments);
    compiled_.emplace(t.name, Compiled{CompiledChatTemplate::parse(t.source, "chat template " + t.name), reasoning, tools,
                                       object_arguments});
  }
}

ChatPrompts::Rendered ChatPrompts::render(const ApiRequest& request) const {
  if (compiled_.empty())
    throw ApiError(400, "the model has no chat template: use /v1/completions, or start the server with --chat-template");
  const Compiled* compiled = nullptr;
  try {
    compiled = &compiled_.at(select_chat_template(config_, "", request.tools.has_value()).name);
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  ChatRequest chat;
  chat.messages = compiled->object_arguments ? with_object_arguments(request.messages) : request.messages;
  chat.tools = request.tools;
  chat.add_generation_prompt = true;
  chat.extra = request.template_kwargs;
  if (!request.tool_choice.is_null()) chat.extra["tool_choice"] = request.tool_choice;
  Rendered rendered;
  try {
    rendered.text = compiled->chat_template.render(build_chat_context(chat, config_));
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("the chat template failed on these messages: {}", e.what()), "messages");
  }
  rendered.output.reasoning = compiled->reasoning;
  rendered.output.starts_in_reasoning = compiled->reasoning && trim_end(rendered.text).ends_with("<think>");
  rendered.output.tools = request.parse_tool_calls() ? compiled->tools : ToolCallSyntax::None;
  return rendered;
}

}  // namespace dseek::server
