// Incremental detokenization for streamed output: each push returns only complete UTF-8
// characters, and the pieces of a stream concatenate to Tokenizer::decode of its ids.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace dseek {

class StreamDecoder {
 public:
  // The tokenizer must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false)
      : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Text completed by this token; empty while a character is still split across tokens.
  std::string push(uint32_t id);
  // End of stream: a character left incomplete becomes U+FFFD, as in decode().
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  bool first_ = true;
  std::string bytes_;
  utf8::LossyDecoder utf8_;
};

}  // namespace dseek
