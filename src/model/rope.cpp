#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace dseek {
namespace {

double yarn_mscale(double factor, double mscale) { return factor <= 1 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0; }

// The dimension at which a frequency completes `rotations` turns over the original context.
double correction_dim(double rotations, int64_t dim, double base, double original_len) {
  return dim * std::log(original_len / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

Rope::Rope(const ModelConfig& c) {
  int64_t dim = c.qk_rope_head_dim, half = dim / 2;
  for (int64_t i = 0; i < half; ++i)
    inv_freq_.push_back(static_cast<float>(1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / dim)));
  if (c.rope_scaling == RopeScaling::Linear) {
    for (float& f : inv_freq_) f = static_cast<float>(f / c.rope_factor);
  } else if (c.rope_scaling == RopeScaling::Yarn) {
    double original = static_cast<double>(c.rope_original_max_position_embeddings);
    double low = std::max(0.0, std::floor(correction_dim(c.rope_beta_fast, dim, c.rope_theta, original)));
    double high = std::min(static_cast<double>(dim - 1), std::ceil(correction_dim(c.rope_beta_slow, dim, c.rope_theta, original)));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      // Low frequencies (past `high`) are interpolated by the factor, high ones kept, a ramp between.
      double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
      double smooth = 1.0 - ramp;
      double f = inv_freq_[i];
      inv_freq_[i] = static_cast<float>(f / c.rope_factor * (1 - smooth) + f * smooth);
    }
    magnitude_ = static_cast<float>(yarn_mscale(c.rope_factor, c.rope_mscale) /
                                    yarn_mscale(c.rope_factor, c.rope_mscale_all_dim));
  }
}

Rope::Table Rope::table(std::span<const int64_t> positions) const {
  Table t;
  t.half = static_cast<int64_t>(inv_freq_.size());
  t.cos.resize(positions.size() * t.half);
  t.sin.resize(positions.size() * t.half);
  for (size_t p = 0; p < positions.size(); ++p) {
    for (int64_t i = 0; i < t.half; ++i) {
      // The angle is rounded to F32 like the reference's float32 outer product.
      float angle = static_cast<float>(positions[p]) * inv_freq_[i];
      t.cos[p * t.half + i] = static_cast<float>(std::cos(static_cast<double>(angle))) * magnitude_;
      t.sin[p * t.half + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * magnitude_;
    }
  }
  return t;
}

void Rope::rotate(float* x, const Table& table, int64_t index) {
  const float* c = table.cos.data() + index * table.half;
  const float* s = table.sin.data() + index * table.half;
  for (int64_t i = 0; i < table.half; ++i) {
    float re = x[2 * i], im = x[2 * i + 1];
    x[2 * i] = re * c[i] - im * s[i];
    x[2 * i + 1] = re * s[i] + im * c[i];
  }
}

}  // namespace dseek
