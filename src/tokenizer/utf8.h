// UTF-8 helpers shared by the tokenizer: validation, code point access and the lossy
// conversion Hugging Face applies to decoded bytes (Rust's String::from_utf8_lossy).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dseek::utf8 {

// Offset of the first byte that is not part of a well-formed sequence, or npos.
size_t find_invalid(std::string_view text);

// Length of the (valid) sequence that starts with this lead byte.
inline size_t sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Decodes the code point at text[pos] of valid UTF-8 and advances pos past it.
char32_t next(std::string_view text, size_t& pos);

// Decodes the code point that ends at text[end] (exclusive) of valid UTF-8.
char32_t last_before(std::string_view text, size_t end);

void append(std::string& out, char32_t code_point);

// Incremental from_utf8_lossy: each maximal ill-formed subsequence becomes one U+FFFD.
// Bytes that might still complete a character are held back until the next push, so the
// concatenated output of a stream equals the one-shot conversion of all its bytes.
class LossyDecoder {
 public:
  void push(std::string_view bytes, std::string& out);
  void finish(std::string& out);  // a held-back incomplete sequence becomes U+FFFD

 private:
  std::string pending_;
};

std::string lossy(std::string_view bytes);

}  // namespace dseek::utf8
