// Fixture models' reference logits (../shared/fixtures/models/*/reference.safetensors) as a yardstick.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "io/safetensors.h"
#include "model/deepseek.h"

namespace dseek::tools_test {

inline std::string model_dir(const std::string& name) { return std::string(DSEEK_FIXTURES) + "/models/" + name; }

inline const TensorView& find(const SafetensorsFile& file, const std::string& name) {
  for (const TensorView& t : file.tensors())
    if (t.name == name) return t;
  throw std::runtime_error("reference has no " + name);
}

inline double relative_l2(const float* got, const float* want, int64_t n) {
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(diff / norm);
}

inline int64_t argmax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

// How close logits are to other logits, over the positions added.
struct Agreement {
  double worst_l2 = 0;
  int same_top1 = 0, positions = 0;
  std::vector<double> l2;  // relative L2 per position

  void add(const float* got, const float* want, int64_t vocab) {
    l2.push_back(relative_l2(got, want, vocab));
    worst_l2 = std::max(worst_l2, l2.back());
    same_top1 += argmax(got, vocab) == argmax(want, vocab);
    ++positions;
  }
  double median_l2() const {
    std::vector<double> sorted = l2;
    std::sort(sorted.begin(), sorted.end());
    return sorted.empty() ? 0 : sorted[sorted.size() / 2];
  }
};

// The logits at every position after one prefill of `tokens`.
inline std::vector<float> prefill_logits(const DeepSeekModel& model, const std::vector<int32_t>& tokens) {
  const auto n = static_cast<int64_t>(tokens.size());
  KvCache cache = model.make_cache(n);
  int seq = cache.add_sequence();
  cache.reserve(seq, n);
  Batch batch;
  for (int64_t t = 0; t < n; ++t) batch.add(tokens[t], t, seq, true);
  return model.forward(batch, cache);
}

// Reference prompt k's tensor `what` ("tokens", "logits"), k < 4.
inline std::string prompt_tensor(int k, const char* what) { return fmt::format("p{}.{}", k, what); }

// A reference prompt's tokens.
inline std::vector<int32_t> reference_tokens(const SafetensorsFile& ref, int k) {
  const TensorView& ids = find(ref, prompt_tensor(k, "tokens"));
  const auto* tokens = static_cast<const int32_t*>(ids.data);
  return std::vector<int32_t>(tokens, tokens + ids.numel());
}

// Prefill logits of every reference prompt against the reference's.
inline Agreement compare_to_reference(const DeepSeekModel& model, const std::string& dir) {
  SafetensorsFile ref(dir + "/reference.safetensors");
  int64_t vocab = model.config().vocab_size;
  Agreement a;
  for (int k = 0; k < 4; ++k) {
    std::vector<int32_t> tokens = reference_tokens(ref, k);
    std::vector<float> logits = prefill_logits(model, tokens);
    const float* want = static_cast<const float*>(find(ref, prompt_tensor(k, "logits")).data);
    for (size_t t = 0; t < tokens.size(); ++t) a.add(logits.data() + t * vocab, want + t * vocab, vocab);
  }
  return a;
}

}  // namespace dseek::tools_test
