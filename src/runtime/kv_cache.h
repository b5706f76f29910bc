// MLA's KV cache: per token and layer only the normalized latent (kv_lora_rank) and the
// rotated rope key (qk_rope_head_dim), kept in fixed-size pages that sequences own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/weight.h"

namespace dseek {

class KvCache {
 public:
  static constexpr int64_t kDefaultPageTokens = 256;
  // Room for `capacity_tokens` tokens (rounded up to whole pages), over all sequences, stored
  // as `dtype`: F32 (exact), or F16 or BF16 (half the memory, each value rounded to nearest even).
  KvCache(int layers, int64_t row_width, int64_t capacity_tokens, int64_t page_tokens = kDefaultPageTokens, DType dtype = DType::F32);

  int add_sequence();
  void remove_sequence(int sequence);  // its pages return to the pool
  // Makes room for positions [0, tokens) of `sequence`; Error when the pool is out of pages.
  void reserve(int sequence, int64_t tokens);
  bool can_reserve(int sequence, int64_t tokens) const;

  // Stores the cache row of one token, [latent (kv_lora_rank), rope key (qk_rope_head_dim)],
  // in the cache's type.
  void write(int layer, int sequence, int64_t position, const float* row);
  // Values [begin, begin + cols) of the rows of positions [first, first + count), as F32
  // rows of `cols`.
  void read(int layer, int sequence, int64_t first, int64_t count, int64_t begin, int64_t cols, float* out) const;
  // The first `cols` values of the rows of positions [first, first + count), which lie in one
  // page, as a weight for the kernels (one row per position).
  Weight rows(int layer, int sequence, int64_t first, int64_t count, int64_t cols) const;

  DType dtype() const { return dtype_; }
  int layers() const { return layers_; }
  int64_t row_width() const { return row_width_; }
  int64_t page_tokens() const { return page_tokens_; }
  int64_t capacity_tokens() const { return total_pages_ * page_tokens_; }
  int64_t free_tokens() const { return static_cast<int64_t>(free_pages_.size()) * page_tokens_; }
  int64_t bytes() const { return total_pages_ * page_bytes(); }

 private:
  int64_t page_bytes() const { return layers_ * page_tokens_ * row_width_ * static_cast<int64_t>(element_bytes_); }
  std::vector<int>& pages_of(int sequence);
  const std::vector<int>& pages_of(int sequence) const;
  std::byte* row_data(int layer, int sequence, int64_t position) const;

  int layers_;
  int64_t row_width_;
  int64_t page_tokens_;
  DType dtype_;
  size_t element_bytes_;
  int64_t total_pages_;
  std::unique_ptr<std::byte[]> storage_;  // left uninitialized: the OS commits pages as they are written
  std::vector<int> free_pages_;
  std::vector<std::vector<int>> sequence_pages_;
  std::vector<uint8_t> sequence_live_;
};

// The cache types by name (f32, f16, bf16), for options; Error naming `option` otherwise.
DType parse_kv_cache_type(const std::string& name, const std::string& option);

}  // namespace dseek
