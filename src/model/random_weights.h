// Random weights of any architecture, made on demand in the shapes the binder asks for:
// dseek's equivalent of vLLM's dummy load format, for benchmarks and demos without files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/tensor_view.h"
#include "model/config.h"
#include "model/quant_plan.h"

namespace dseek {

class RandomWeights {
 public:
  // Tensors under Hugging Face names. `dtype`: the format of the linear layers (F32, F16, BF16
  // or F8_E4M3 with block scales). Embedding, router and output head are BF16 with FP8, as in
  // DeepSeek's FP8 releases.
  RandomWeights(const ModelConfig& config, DType dtype, uint64_t seed);
  // Tensors under GGUF names (model/gguf_model.h), each in the type `plan` chooses for it: what
  // `dseek quantize` would write. Quantized tensors are valid blocks with sane scales.
  RandomWeights(const ModelConfig& config, const QuantPlan& plan, uint64_t seed);

  const TensorView* get(const std::string& name, const std::vector<int64_t>& shape);

  int64_t bytes_made() const { return bytes_made_; }
  int64_t elements_made() const { return elements_made_; }  // of weights, not of FP8 scales

 private:
  struct Owned {
    std::unique_ptr<unsigned char[]> bytes;
    TensorView view;
  };
  TensorView& make(const std::string& name, DType dtype, const std::vector<int64_t>& shape);

  ModelConfig config_;
  DType dtype_ = DType::F32;
  std::optional<QuantPlan> plan_;
  uint64_t seed_;
  int64_t bytes_made_ = 0, elements_made_ = 0;
  std::map<std::string, Owned> tensors_;
};

}  // namespace dseek
