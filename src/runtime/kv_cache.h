// MLA's KV cache: per token and layer only the normalized latent (kv_lora_rank) and the
// rotated rope key (qk_rope_head_dim), kept in fixed-size pages that sequences own.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace dseek {

class KvCache {
 public:
  // Room for `capacity_tokens` tokens (rounded up to whole pages), over all sequences.
  KvCache(int layers, int64_t row_width, int64_t capacity_tokens, int64_t page_tokens = 256);

  int add_sequence();
  void remove_sequence(int sequence);  // its pages return to the pool
  // Makes room for positions [0, tokens) of `sequence`; Error when the pool is out of pages.
  void reserve(int sequence, int64_t tokens);
  bool can_reserve(int sequence, int64_t tokens) const;

  // The cache row of one token: [latent (kv_lora_rank), rope key (qk_rope_head_dim)].
  float* row(int layer, int sequence, int64_t position);
  // Page `page` of a sequence in one layer: page_tokens rows of row_width floats.
  const float* page(int layer, int sequence, int64_t page) const;

  int layers() const { return layers_; }
  int64_t row_width() const { return row_width_; }
  int64_t page_tokens() const { return page_tokens_; }
  int64_t capacity_tokens() const { return total_pages_ * page_tokens_; }
  int64_t free_tokens() const { return static_cast<int64_t>(free_pages_.size()) * page_tokens_; }
  int64_t bytes() const { return total_pages_ * page_floats() * static_cast<int64_t>(sizeof(float)); }

 private:
  int64_t page_floats() const { return layers_ * page_tokens_ * row_width_; }
  std::vector<int>& pages_of(int sequence);
  const std::vector<int>& pages_of(int sequence) const;

  int layers_;
  int64_t row_width_;
  int64_t page_tokens_;
  int64_t total_pages_;
  std::unique_ptr<float[]> storage_;  // left uninitialized: the OS commits pages as they are written
  std::vector<int> free_pages_;
  std::vector<std::vector<int>> sequence_pages_;
  std::vector<uint8_t> sequence_live_;
};

}  // namespace dseek
