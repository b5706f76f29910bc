// tokenizer.json "pre_tokenizer": cuts normalized text into the pieces BPE sees one at a
// time, and (ByteLevel) maps their bytes to BPE's alphabet.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dseek {

// The pieces of one text: views into the caller's text or into `storage`, which owns the
// text pre-tokenizers create (a deque never moves its strings, so views stay valid).
struct Pieces {
  std::vector<std::string_view> views;
  std::deque<std::string> storage;

  std::string_view keep(std::string text) { return storage.emplace_back(std::move(text)); }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces every piece by its sub-pieces; empty pieces are dropped.
  virtual void pre_tokenize(Pieces& pieces) const = 0;
};

// Sequence, Split, Digits, ByteLevel. Returns nullptr for null or for an empty Sequence;
// any other type is an error naming it and `where`.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& spec, std::string_view where);

}  // namespace dseek
