// Shared by the server tests: the v2-chat-tiny fixture (a real DeepSeek tokenizer and the
// V2-Lite-Chat template) and the fixture chat templates.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dseek::server::testing {

inline std::string chat_model_dir() { return std::string(DSEEK_FIXTURES) + "/models/v2-chat-tiny"; }

inline const Tokenizer& chat_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(chat_model_dir());
  return tokenizer;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A template from fixtures/chat-templates, by file name.
inline std::string fixture_template(const std::string& file) {
  return read_file(std::filesystem::path(DSEEK_FIXTURES) / "chat-templates" / file);
}

}  // namespace dseek::server::testing
