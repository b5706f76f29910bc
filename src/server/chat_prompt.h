// Chat requests rendered into prompt text with the model's chat template, and how to read the
// reply that text asks for (whether it opens reasoning, which tool-call syntax the template uses).
#pragma once

#include <map>
#include <string>

#include "chat/chat_template.h"
#include "server/chat_output.h"
#include "server/request.h"
#include "tokenizer/tokenizer_config.h"

namespace dseek::server {

class ChatPrompts {
 public:
  // The templates of `config`; a non-empty override_source replaces them (--chat-template).
  // Throws dseek::Error when a template does not parse.
  ChatPrompts(TokenizerConfig config, const std::string& override_source);

  struct Rendered {
    std::string text;
    ChatOutputOptions output;
  };
  // With the generation prompt. ApiError (400) when the model has no template or it fails on
  // these messages (templates raise_exception on, e.g., roles out of order).
  Rendered render(const ApiRequest& request) const;

  bool empty() const { return compiled_.empty(); }

 private:
  struct Compiled {
    CompiledChatTemplate chat_template;
    bool reasoning;  // the template knows <think>
    ToolCallSyntax tools;
    // The template writes `arguments | tojson` (V3.1): it wants them as an object, as
    // transformers passes them, not OpenAI's JSON string (which it would quote again).
    bool object_arguments;
  };

  TokenizerConfig config_;
  std::map<std::string, Compiled> compiled_;
};

}  // namespace dseek::server
