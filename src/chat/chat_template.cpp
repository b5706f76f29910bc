#include "chat/chat_template.h"

#include "util/error.h"

namespace dseek {

namespace {

std::string available(const TokenizerConfig& config) {
  std::string names;
  for (const ChatTemplate& t : config.chat_templates) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", t.name);
  return names.empty() ? "none" : names;
}

}  // namespace

CompiledChatTemplate CompiledChatTemplate::parse(std::string_view source, std::string name) {
  return CompiledChatTemplate(jinja::Template::parse(source, std::move(name)));
}

std::string CompiledChatTemplate::render(const nlohmann::ordered_json& context) const {
  return template_.render(context, options_);
}

const ChatTemplate& select_chat_template(const TokenizerConfig& config, std::string_view name, bool with_tools) {
  if (!name.empty()) {
    if (const ChatTemplate* t = config.chat_template(name)) return *t;
    fail("no chat template named '{}' (available: {})", name, available(config));
  }
  if (with_tools) {
    if (const ChatTemplate* t = config.chat_template("tool_use")) return *t;
  }
  if (const ChatTemplate* t = config.chat_template("default")) return *t;
  if (config.chat_templates.empty()) fail("the model has no chat template");
  fail("the model has several chat templates and none is named 'default'; choose one of {}", available(config));
}

nlohmann::ordered_json build_chat_context(const ChatRequest& request, const TokenizerConfig& config) {
  if (!request.extra.is_object()) fail("extra chat template variables must be a JSON object");
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = request.messages;
  context["tools"] = request.tools ? *request.tools : nlohmann::ordered_json(nullptr);
  context["add_generation_prompt"] = request.add_generation_prompt;
  const std::pair<const char*, const std::optional<std::string>*> tokens[] = {{"bos_token", &config.bos_token},
                                                                              {"eos_token", &config.eos_token},
                                                                              {"unk_token", &config.unk_token},
                                                                              {"pad_token", &config.pad_token}};
  for (const auto& [key, token] : tokens) {
    if (*token) context[key] = **token;
  }
  for (const auto& [key, value] : request.extra.items()) context[key] = value;
  return context;
}

}  // namespace dseek
