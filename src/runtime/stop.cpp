#include "runtime/stop.h"

#include <algorithm>

#include "util/error.h"

namespace dseek {
namespace {

// Bytes in the UTF-8 character that starts with `lead`; 1 for bytes that cannot start one.
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xC0 && lead < 0xE0) return 2;
  if (lead >= 0xE0 && lead < 0xF0) return 3;
  if (lead >= 0xF0 && lead < 0xF8) return 4;
  return 1;
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stop_strings)
    : stop_strings_(std::move(stop_strings)) {
  for (size_t i = 0; i < stop_strings_.size(); ++i) {
    if (stop_strings_[i].empty()) fail("stop: string {} is empty", i);
  }
}

StopMatcher::Output StopMatcher::feed(std::string_view piece) {
  if (stopped()) return {"", true};
  pending_.append(piece);

  // The earliest match wins; what is held back never holds a whole stop string, so searching
  // all of pending_ (held-back tail plus the new piece) finds matches spanning pieces.
  size_t first = std::string::npos;
  for (size_t i = 0; i < stop_strings_.size(); ++i) {
    const size_t pos = pending_.find(stop_strings_[i]);
    if (pos < first) {
      first = pos;
      matched_ = i;
    }
  }
  if (first != std::string::npos) {
    Output out{pending_.substr(0, first), true};
    pending_.clear();
    return out;
  }

  const size_t ready = pending_.size() - held_back();
  Output out{pending_.substr(0, ready), false};
  pending_.erase(0, ready);
  return out;
}

size_t StopMatcher::held_back() const {
  const std::string_view pending = pending_;
  size_t hold = 0;
  for (std::string_view stop : stop_strings_) {
    for (size_t len = std::min(stop.size() - 1, pending.size()); len > hold; --len) {
      if (pending.ends_with(stop.substr(0, len))) {
        hold = len;
        break;
      }
    }
  }

  size_t cut = pending.size() - hold;
  for (size_t back = 1; back <= 4 && back <= cut; ++back) {
    const auto byte = static_cast<unsigned char>(pending[cut - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    if (utf8_length(byte) > back) cut -= back;
    break;
  }
  return pending.size() - cut;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

std::string_view StopMatcher::matched() const {
  return stopped() ? std::string_view(stop_strings_[matched_]) : std::string_view();
}

int64_t check_context(size_t prompt_tokens, int64_t max_new_tokens, int64_t ctx_limit) {
  if (ctx_limit <= 0) fail("the context must hold at least 1 token, got {}", ctx_limit);
  if (max_new_tokens < 0) fail("max_new_tokens must be >= 0, got {}", max_new_tokens);
  if (prompt_tokens == 0) fail("the prompt is empty: at least one token is needed");
  const auto limit = static_cast<size_t>(ctx_limit);
  if (prompt_tokens > limit) {
    fail("prompt has {} tokens but the context is {}", prompt_tokens, ctx_limit);
  }
  if (prompt_tokens == limit) {
    fail("prompt has {} tokens but the context is {}, leaving no room to generate", prompt_tokens,
         ctx_limit);
  }
  return std::min(max_new_tokens, ctx_limit - static_cast<int64_t>(prompt_tokens));
}

}  // namespace dseek
