// Shared by the tokenizer tests: the fixture tokenizers, loaded once per test binary.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dseek::testing {

inline std::filesystem::path tokenizer_fixture(const std::string& name) {
  return std::filesystem::path(DSEEK_FIXTURES) / "tokenizers" / name;
}

// "deepseek-llm" or "deepseek-coder".
inline const Tokenizer& fixture_tokenizer(const std::string& name) {
  static std::map<std::string, Tokenizer> loaded;
  auto it = loaded.find(name);
  if (it == loaded.end()) it = loaded.emplace(name, Tokenizer::load(tokenizer_fixture(name))).first;
  return it->second;
}

}  // namespace dseek::testing
