// Chat prompts rendered the way transformers' apply_chat_template renders them: the model's Jinja
// chat template (from tokenizer_config.json, see tokenizer/tokenizer_config.h) given messages,
// tools, special tokens and extra variables.
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/jinja.h"
#include "tokenizer/tokenizer_config.h"

namespace dseek {

// A parsed chat template (the source is tokenizer_config's ChatTemplate). Immutable apart from
// the clock: it may render on several threads at once.
class CompiledChatTemplate {
 public:
  // name appears in error messages. Throws dseek::Error on a syntax error.
  static CompiledChatTemplate parse(std::string_view source, std::string name);

  std::string render(const nlohmann::ordered_json& context) const;

  // The clock strftime_now reads (local time); the system clock by default.
  void set_clock(std::function<std::tm()> now) { options_.now = std::move(now); }

  const std::string& name() const { return template_.name(); }

 private:
  explicit CompiledChatTemplate(jinja::Template t) : template_(std::move(t)) {}
  jinja::Template template_;
  jinja::RenderOptions options_;
};

// The template called name or, when name is empty, the one transformers picks: "tool_use" when
// tools are given and the model has it, else "default". Throws when there is none.
const ChatTemplate& select_chat_template(const TokenizerConfig& config, std::string_view name, bool with_tools);

struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::optional<nlohmann::ordered_json> tools;
  bool add_generation_prompt = false;
  // Further template variables (thinking, enable_thinking, ...); they override the others.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// The variables apply_chat_template passes: messages, tools (null when absent),
// add_generation_prompt, the special tokens the config sets, then the extra variables.
nlohmann::ordered_json build_chat_context(const ChatRequest& request, const TokenizerConfig& config);

}  // namespace dseek
