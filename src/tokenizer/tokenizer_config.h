// tokenizer_config.json as transformers reads it: special tokens, BOS/EOS policy and the
// chat template(s).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dseek {

struct ChatTemplate {
  std::string name;  // "default" when the config holds a single template
  std::string source;
};

struct TokenizerConfig {
  // Special tokens; the config spells each as a string or an AddedToken object.
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<bool> add_bos_token, add_eos_token;
  std::string tokenizer_class;
  std::vector<ChatTemplate> chat_templates;

  // Parses the file's text; `where` (the file name) prefixes error messages.
  static TokenizerConfig parse(std::string_view json_text, std::string_view where);
  // DIR/tokenizer_config.json (an empty config when absent); a DIR/chat_template.jinja
  // file replaces the default template, as in transformers.
  static TokenizerConfig load(const std::filesystem::path& dir);

  // The named template, or nullptr. Without a name: "default".
  const ChatTemplate* chat_template(std::string_view name = "default") const;
};

}  // namespace dseek
