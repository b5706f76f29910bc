// When generation ends: stop strings matched in the decoded text, and the context limit.
// Stopping on eos ids is a token comparison left to the generation loop
// (GenerationConfig::eos_token_ids lists the model's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dseek {

// Fed the text of each token as it is decoded, returns what may be shown now. Text that could be
// the start of a stop string is held back until it is known not to be, and so is an incomplete
// UTF-8 character at the end, so a stream never shows half a character. On a match, the output
// ends just before the stop string; the stop string and everything after it are dropped.
class StopMatcher {
 public:
  struct Output {
    std::string text;  // safe to show now
    bool stopped = false;
  };

  explicit StopMatcher(std::vector<std::string> stop_strings);  // Error on an empty string

  // After a stop, returns empty output with stopped set.
  Output feed(std::string_view piece);

  // At the end of generation (eos, length): the text still held back.
  std::string flush();

  bool stopped() const { return matched_ != kNone; }
  // The stop string that ended generation (as vLLM's stop_reason), empty if none.
  std::string_view matched() const;

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  size_t held_back() const;  // length of the tail of pending_ that must wait

  std::vector<std::string> stop_strings_;
  std::string pending_;
  size_t matched_ = kNone;
};

// How many tokens may be generated after a prompt of `prompt_tokens` when a sequence may hold
// `ctx_limit` positions (the smaller of max_position_embeddings and --ctx):
// min(max_new_tokens, ctx_limit - prompt_tokens). A prompt that leaves no room for one generated
// token is an Error, never a silent truncation.
int64_t check_context(size_t prompt_tokens, int64_t max_new_tokens, int64_t ctx_limit);

}  // namespace dseek
