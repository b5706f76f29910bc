#include "tokenizer/stream_decoder.h"

namespace dseek {

std::string StreamDecoder::push(uint32_t id) {
  std::string text;
  bytes_.clear();
  if (!tokenizer_.append_token_bytes(id, skip_special_tokens_, first_, bytes_)) return text;
  first_ = false;
  utf8_.push(bytes_, text);
  return text;
}

std::string StreamDecoder::finish() {
  std::string text;
  utf8_.finish(text);
  return text;
}

}  // namespace dseek
