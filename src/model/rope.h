// Rotary position embedding on interleaved pairs (x[2i], x[2i+1]), with YaRN's
// frequency interpolation as DeepSeek's reference precomputes it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/config.h"

namespace dseek {

class Rope {
 public:
  explicit Rope(const ModelConfig& config);

  // cos and sin of every pair's angle at each position: [positions.size(), dim/2] each.
  struct Table {
    int64_t half = 0;
    std::vector<float> cos, sin;
  };
  Table table(std::span<const int64_t> positions) const;

  // Rotates x[0, dim) in place with row `index` of the table.
  static void rotate(float* x, const Table& table, int64_t index);

  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  std::vector<float> inv_freq_;
  float magnitude_ = 1.0f;  // YaRN's cos/sin scale: mscale(factor, mscale) / mscale(factor, mscale_all_dim)
};

}  // namespace dseek
