// Fixture models' reference logits (../shared/fixtures/models/*/reference.safetensors) as a yardstick.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

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

struct Agreement {
  double worst_l2 = 0;
  int same_top1 = 0, positions = 0;
};

// Prefill logits of every reference prompt against the reference's.
inline Agreement compare_to_reference(const DeepSeekModel& model, const std::string& dir) {
  SafetensorsFile ref(dir + "/reference.safetensors");
  int64_t vocab = model.config().vocab_size;
  Agreement a;
  for (int k = 0; k < 4; ++k) {
    std::string p = "p" + std::to_string(k);
    const TensorView& ids = find(ref, p + ".tokens");
    const int32_t* tokens = static_cast<const int32_t*>(ids.data);
    int64_t n = ids.numel();
    KvCache cache = model.make_cache(n);
    int seq = cache.add_sequence();
    cache.reserve(seq, n);
    Batch batch;
    for (int64_t t = 0; t < n; ++t) batch.add(tokens[t], t, seq, true);
    std::vector<float> logits = model.forward(batch, cache);
    const float* want = static_cast<const float*>(find(ref, p + ".logits").data);
    for (int64_t t = 0; t < n; ++t) {
      a.worst_l2 = std::max(a.worst_l2, relative_l2(logits.data() + t * vocab, want + t * vocab, vocab));
      a.same_top1 += argmax(logits.data() + t * vocab, vocab) == argmax(want + t * vocab, vocab);
      ++a.positions;
    }
  }
  return a;
}

}  // namespace dseek::tools_test
