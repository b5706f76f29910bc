// Random weights of any architecture, made on demand in the shapes the binder asks for:
// dseek's equivalent of vLLM's dummy load format, for benchmarks and demos without files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/tensor_view.h"
#include "model/config.h"

namespace dseek {

class RandomWeights {
 public:
  // `dtype`: the format of the linear layers (F32, F16, BF16 or F8_E4M3 with block scales).
  // Embedding, router and output head are BF16 with FP8, as in DeepSeek's FP8 releases.
  RandomWeights(const ModelConfig& config, DType dtype, uint64_t seed);

  const TensorView* get(const std::string& name, const std::vector<int64_t>& shape);

 private:
  struct Owned {
    std::unique_ptr<unsigned char[]> bytes;
    TensorView view;
  };
  TensorView& make(const std::string& name, DType dtype, const std::vector<int64_t>& shape);

  ModelConfig config_;
  DType dtype_;
  uint64_t seed_;
  std::map<std::string, Owned> tensors_;
};

}  // namespace dseek
