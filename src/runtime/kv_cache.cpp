#include "runtime/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "util/error.h"

namespace dseek {

DType parse_kv_cache_type(const std::string& name, const std::string& option) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "bf16") return DType::BF16;
  fail("{} '{}': the KV cache types are f32, f16 and bf16", option, name);
}

KvCache::KvCache(int layers, int64_t row_width, int64_t capacity_tokens, int64_t page_tokens, DType dtype)
    : layers_(layers), row_width_(row_width), page_tokens_(page_tokens), dtype_(dtype) {
  if (layers <= 0 || row_width <= 0 || page_tokens <= 0 || capacity_tokens <= 0)
    fail("KV cache: layers, row width, capacity and page size must be positive");
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    fail("KV cache: no {} cache, only F32, F16 and BF16", dtype_name(dtype));
  element_bytes_ = dtype_size(dtype);
  total_pages_ = (capacity_tokens + page_tokens - 1) / page_tokens;
  storage_.reset(new std::byte[total_pages_ * page_bytes()]);
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

std::byte* KvCache::row_data(int layer, int sequence, int64_t position) const {
  if (layer < 0 || layer >= layers_) fail("KV cache: no layer {} of {}", layer, layers_);
  const std::vector<int>& pages = pages_of(sequence);
  int64_t index = position / page_tokens_;
  if (position < 0 || index >= static_cast<int64_t>(pages.size()))
    fail("KV cache: position {} of sequence {} has no reserved page", position, sequence);
  return storage_.get() + pages[index] * page_bytes() +
         (layer * page_tokens_ + position % page_tokens_) * row_width_ * static_cast<int64_t>(element_bytes_);
}

void KvCache::write(int layer, int sequence, int64_t position, const float* row) {
  std::byte* out = row_data(layer, sequence, position);
  auto store_halves = [&](uint16_t (*convert)(float)) {
    for (int64_t i = 0; i < row_width_; ++i) {
      const uint16_t bits = convert(row[i]);
      std::memcpy(out + 2 * i, &bits, 2);
    }
  };
  if (dtype_ == DType::BF16) store_halves(f32_to_bf16);
  else if (dtype_ == DType::F16) store_halves(f32_to_f16);
  else std::memcpy(out, row, row_width_ * sizeof(float));
}

void KvCache::read(int layer, int sequence, int64_t first, int64_t count, int64_t begin, int64_t cols, float* out) const {
  if (begin < 0 || cols <= 0 || begin + cols > row_width_)
    fail("KV cache: values [{}, {}) are outside a row of {}", begin, begin + cols, row_width_);
  for (int64_t p = first; p < first + count;) {
    const int64_t n = std::min(first + count, (p / page_tokens_ + 1) * page_tokens_) - p;
    Weight values = rows(layer, sequence, p, n, begin + cols);
    values.data = static_cast<const std::byte*>(values.data) + begin * static_cast<int64_t>(element_bytes_);
    values.cols = cols;
    dequantize_rows(values, 0, n, out + (p - first) * cols);
    p += n;
  }
}

Weight KvCache::rows(int layer, int sequence, int64_t first, int64_t count, int64_t cols) const {
  if (count <= 0 || (first + count - 1) / page_tokens_ != first / page_tokens_)
    fail("KV cache: positions [{}, {}) are not within one page of {} tokens", first, first + count, page_tokens_);
  if (cols <= 0 || cols > row_width_) fail("KV cache: {} values of a row of {}", cols, row_width_);
  Weight w;
  w.dtype = dtype_;
  w.rows = count;
  w.cols = cols;
  w.data = row_data(layer, sequence, first);
  w.row_stride = row_width_;
  return w;
}

}  // namespace dseek
