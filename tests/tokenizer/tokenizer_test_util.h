// Shared by the tokenizer tests: the fixture tokenizers, loaded once per test binary.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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

struct Vector {
  std::string text;
  std::vector<uint32_t> ids;
};

inline std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// vectors.inp: inputs each followed by "\n__ggml_vocab_test__\n"; vectors.out: one line
// of ids per input.
inline std::vector<Vector> load_vectors(const std::string& name) {
  std::string inputs = read_all(tokenizer_fixture(name) / "vectors.inp");
  std::istringstream outputs(read_all(tokenizer_fixture(name) / "vectors.out"));
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<Vector> vectors;
  size_t pos = 0;
  for (size_t end; (end = inputs.find(separator, pos)) != std::string::npos; pos = end + separator.size()) {
    Vector v;
    v.text = inputs.substr(pos, end - pos);
    std::string line;
    std::getline(outputs, line);
    std::istringstream ids(line);
    for (uint32_t id; ids >> id;) v.ids.push_back(id);
    vectors.push_back(std::move(v));
  }
  EXPECT_EQ(pos, inputs.size()) << name << ": trailing text after the last separator";
  return vectors;
}

}  // namespace dseek::testing
