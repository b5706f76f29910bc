// The chat model fixture and its e2e.json (made with transformers), as the CLI tests use them.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace dseek::cli_test {

inline std::string chat_model_dir() { return std::string(DSEEK_FIXTURES) + "/models/v2-chat-tiny"; }

inline const nlohmann::json& e2e() {
  static const nlohmann::json cases = [] {
    std::ifstream in(chat_model_dir() + "/e2e.json", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str());
  }();
  return cases;
}

inline const Tokenizer& chat_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(chat_model_dir());
  return tokenizer;
}

// The text of a case's first `count` greedy tokens, special tokens skipped.
inline std::string greedy_prefix(const nlohmann::json& test_case, size_t count) {
  std::vector<uint32_t> ids;
  for (const auto& id : test_case["greedy_ids"]) {
    if (ids.size() == count) break;
    ids.push_back(id.get<uint32_t>());
  }
  return chat_tokenizer().decode(ids, true);
}

inline std::string trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \n\r\t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \n\r\t") + 1 - begin);
}

}  // namespace dseek::cli_test
