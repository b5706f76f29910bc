#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace dseek {
namespace {

// Rust's char::is_whitespace / regex \s: the Unicode White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Rust regex \w (Unicode word characters), for single_word tokens.
bool is_word_character(std::string_view character) {
  static const Regex word("\\A[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]\\z", "added token word test");
  return word.search(character);
}

std::string_view first_character(std::string_view text) {
  return text.substr(0, utf8::sequence_length(static_cast<unsigned char>(text.front())));
}

std::string_view last_character(std::string_view text) {
  size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return text.substr(start);
}

}  // namespace

void AddedVocabulary::Trie::insert(std::string_view key, int token) {
  uint32_t node = 0;
  for (char c : key) {
    auto byte = static_cast<unsigned char>(c);
    auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(), [byte](const auto& child) { return child.first == byte; });
    if (it != children.end()) {
      node = it->second;
    } else {
      auto child = static_cast<uint32_t>(nodes.size());
      children.emplace_back(byte, child);
      nodes.emplace_back();
      node = child;
    }
  }
  nodes[node].token = token;
  first_byte[static_cast<unsigned char>(key.front())] = true;
}

size_t AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos, int& token) const {
  size_t best = 0;
  uint32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(), [byte](const auto& child) { return child.first == byte; });
    if (it == children.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) {
      best = i + 1 - pos;
      token = nodes[node].token;
    }
  }
  return best;
}

AddedVocabulary::AddedVocabulary(const nlohmann::json& added_tokens, const Normalizer* normalizer,
                                 std::string_view where) {
  if (added_tokens.is_null()) return;
  if (!added_tokens.is_array()) fail("{}: expected an array", where);
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    const auto& spec = added_tokens[i];
    std::string token_where = json_fields::path(where, i);
    AddedToken token;
    token.id = json_fields::as_id(json_fields::require(spec, "id", token_where), json_fields::path(token_where, "id"));
    token.content = json_fields::require_string(spec, "content", token_where);
    token.special = json_fields::bool_or(spec, "special", false, token_where);
    token.normalized = json_fields::bool_or(spec, "normalized", !token.special, token_where);
    token.lstrip = json_fields::bool_or(spec, "lstrip", false, token_where);
    token.rstrip = json_fields::bool_or(spec, "rstrip", false, token_where);
    token.single_word = json_fields::bool_or(spec, "single_word", false, token_where);
    tokens_.push_back(std::move(token));
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    if (token.content.empty()) continue;
    if (!token.normalized) {
      raw_.insert(token.content, static_cast<int>(i));
      continue;
    }
    std::string key = token.content;
    if (normalizer != nullptr) normalizer->normalize(key);
    if (!key.empty()) normalized_.insert(key, static_cast<int>(i));
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized_text, std::vector<Segment>& out) const {
  const Trie& trie = normalized_text ? normalized_ : raw_;
  size_t emitted = 0;  // end of the text already handed out
  size_t pos = 0;
  while (pos < text.size()) {
    int index = -1;
    size_t length = trie.first_byte[static_cast<unsigned char>(text[pos])] ? trie.longest_at(text, pos, index) : 0;
    if (length == 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t start = pos, stop = pos + length;
    // Matches never overlap: scanning resumes after this one even if it is discarded.
    pos = stop;
    if (token.single_word) {
      bool word_before = start > 0 && is_word_character(last_character(text.substr(0, start)));
      bool word_after = stop < text.size() && is_word_character(first_character(text.substr(stop)));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      size_t new_start = start;
      while (new_start > 0 && is_white_space(utf8::last_before(text, new_start)))
        new_start -= last_character(text.substr(0, new_start)).size();
      start = std::max(new_start, emitted);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t next = stop;
        if (!is_white_space(utf8::next(text, next))) break;
        stop = next;
      }
    }
    if (emitted < start) out.push_back({text.substr(emitted, start - emitted), std::nullopt});
    out.push_back({text.substr(start, stop - start), token.id});
    emitted = stop;
  }
  if (emitted < text.size()) out.push_back({text.substr(emitted), std::nullopt});
}

}  // namespace dseek
