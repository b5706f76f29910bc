// tokenizer.json "normalizer": rewrites text before added tokens marked `normalized` are
// matched and before pre-tokenization.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dseek {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Sequence, Prepend, Replace, NFC, NFKC, NFD, NFKD. Returns nullptr for null or for a
// Sequence with nothing in it; any other type is an error naming it and `where`.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& spec, std::string_view where);

}  // namespace dseek
