// tokenizer.json "added_tokens": tokens cut out of the text before pre-tokenization, with
// Hugging Face's matching rules (leftmost-longest; single_word, lstrip and rstrip).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dseek {

class Normalizer;

struct AddedToken {
  uint32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// A stretch of text: either an added token (id set) or text still to be tokenized.
struct Segment {
  std::string_view text;
  std::optional<uint32_t> id;
};

class AddedVocabulary {
 public:
  // `normalizer` (may be null) is applied to the content of `normalized` tokens, which
  // are then matched against normalized text.
  AddedVocabulary(const nlohmann::json& added_tokens, const Normalizer* normalizer, std::string_view where);

  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Splits text at the tokens that match raw (normalized == false) or, with
  // `normalized_text`, at those that match normalized text. Appends to `out`.
  void split(std::string_view text, bool normalized_text, std::vector<Segment>& out) const;

 private:
  // A byte trie over token contents, for leftmost-longest matching.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, uint32_t>> children;
      int token = -1;  // index into tokens_
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};

    void insert(std::string_view key, int token);
    // Longest key starting at text[pos]: its length, 0 when none.
    size_t longest_at(std::string_view text, size_t pos, int& token) const;
  };

  std::vector<AddedToken> tokens_;
  Trie raw_, normalized_;
};

}  // namespace dseek
