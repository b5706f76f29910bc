#include "runtime/kv_cache.h"

#include "util/error.h"

namespace dseek {

KvCache::KvCache(int layers, int64_t row_width, int64_t capacity_tokens, int64_t page_tokens)
    : layers_(layers), row_width_(row_width), page_tokens_(page_tokens) {
  if (layers <= 0 || row_width <= 0 || page_tokens <= 0 || capacity_tokens <= 0)
    fail("KV cache: layers, row width, capacity and page size must be positive");
  total_pages_ = (capacity_tokens + page_tokens - 1) / page_tokens;
  storage_.reset(new float[total_pages_ * page_floats()]);
  for (int64_t p = total_pages_ - 1; p >= 0; --p) free_pages_.push_back(static_cast<int>(p));
}

int KvCache::add_sequence() {
  for (size_t s = 0; s < sequence_live_.size(); ++s) {
    if (!sequence_live_[s]) {
      sequence_live_[s] = 1;
      return static_cast<int>(s);
    }
  }
  sequence_live_.push_back(1);
  sequence_pages_.emplace_back();
  return static_cast<int>(sequence_live_.size() - 1);
}

std::vector<int>& KvCache::pages_of(int sequence) {
  if (sequence < 0 || sequence >= static_cast<int>(sequence_live_.size()) || !sequence_live_[sequence])
    fail("KV cache: no sequence {}", sequence);
  return sequence_pages_[sequence];
}

const std::vector<int>& KvCache::pages_of(int sequence) const {
  return const_cast<KvCache*>(this)->pages_of(sequence);
}

void KvCache::remove_sequence(int sequence) {
  std::vector<int>& pages = pages_of(sequence);
  free_pages_.insert(free_pages_.end(), pages.rbegin(), pages.rend());
  pages.clear();
  sequence_live_[sequence] = 0;
}

bool KvCache::can_reserve(int sequence, int64_t tokens) const {
  int64_t needed = (tokens + page_tokens_ - 1) / page_tokens_ - static_cast<int64_t>(pages_of(sequence).size());
  return needed <= static_cast<int64_t>(free_pages_.size());
}

void KvCache::reserve(int sequence, int64_t tokens) {
  if (!can_reserve(sequence, tokens))
    fail("KV cache is full: sequence {} needs {} tokens, {} of {} tokens are free", sequence, tokens, free_tokens(),
         capacity_tokens());
  std::vector<int>& pages = pages_of(sequence);
  while (static_cast<int64_t>(pages.size()) * page_tokens_ < tokens) {
    pages.push_back(free_pages_.back());
    free_pages_.pop_back();
  }
}

float* KvCache::row(int layer, int sequence, int64_t position) {
  const std::vector<int>& pages = pages_of(sequence);
  int64_t index = position / page_tokens_;
  if (position < 0 || index >= static_cast<int64_t>(pages.size()))
    fail("KV cache: position {} of sequence {} has no reserved page", position, sequence);
  return storage_.get() + pages[index] * page_floats() + (layer * page_tokens_ + position % page_tokens_) * row_width_;
}

const float* KvCache::page(int layer, int sequence, int64_t page) const {
  const std::vector<int>& pages = pages_of(sequence);
  if (page < 0 || page >= static_cast<int64_t>(pages.size())) fail("KV cache: sequence {} has no page {}", sequence, page);
  return storage_.get() + pages[page] * page_floats() + layer * page_tokens_ * row_width_;
}

}  // namespace dseek
