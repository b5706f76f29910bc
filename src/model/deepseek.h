// The DeepSeek-V2/V3 transformer: embedding, blocks of MLA attention and a dense or MoE
// feed-forward, final norm, output head. One forward() serves prefill, decode and mixed batches.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/gguf.h"
#include "kernels/weight_memory.h"
#include "model/config.h"
#include "model/quant_plan.h"
#include "model/random_weights.h"
#include "model/rope.h"
#include "model/weights.h"
#include "runtime/batch.h"
#include "runtime/kv_cache.h"

namespace dseek {

// Reports loading as bytes done of a total, now and then and once at the end.
using LoadProgress = std::function<void(int64_t done_bytes, int64_t total_bytes)>;

class DeepSeekModel {
 public:
  // A Hugging Face model directory: config.json and safetensors weights, used in place. The
  // mapped weights are faulted in while `progress` reports, so the first request is not slow.
  static std::unique_ptr<DeepSeekModel> load(const std::string& model_dir, const LoadProgress& progress = {});
  // Random weights in `dtype` for an architecture (see model/presets.h), without files.
  static std::unique_ptr<DeepSeekModel> random(const ModelConfig& config, DType dtype, uint64_t seed,
                                               const LoadProgress& progress = {});
  // Random weights under GGUF names in the types `plan` chooses: the speed of `dseek quantize`'s
  // output for the architecture.
  static std::unique_ptr<DeepSeekModel> random(const ModelConfig& config, const QuantPlan& plan, uint64_t seed,
                                               const LoadProgress& progress = {});
  // A llama.cpp GGUF file of architecture deepseek2 (model/gguf_model.h), mapped and used in place.
  static std::unique_ptr<DeepSeekModel> load_gguf(const std::string& path, const LoadProgress& progress = {});

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

  // Moves the matrices that matmul multiplies into memory of the model's own, backed by huge
  // pages where the system has them (kernels/weight_memory.h): in a faster layout where this
  // CPU has one (quant/repack.h), else as they are where huge pages make the move worth it.
  // The originals' pages go back to the system. At most budget_bytes (by default 90% of the
  // available memory) beyond what they give back, so that a checkpoint larger than memory keeps
  // running from its mapping: a file's pages stay cached, so all it places counts, while random
  // weights' memory is freed as it goes. Once per model: later calls move nothing.
  struct Placement {
    int64_t repacked_bytes = 0;  // into another layout
    int64_t moved_bytes = 0;     // as they are
    int64_t peak_bytes = 0;      // the most placed while the originals still held their memory
  };
  Placement repack_weights(std::optional<int64_t> budget_bytes = std::nullopt);

  // A KV cache shaped for this model, holding `capacity_tokens` tokens over all sequences, of
  // the type set here (KvCache: F32, the default and exact; F16 or BF16, half the memory).
  KvCache make_cache(int64_t capacity_tokens) const;
  void set_cache_dtype(DType dtype) { cache_dtype_ = dtype; }
  DType cache_dtype() const { return cache_dtype_; }

  // Runs every token of the batch, storing its latents in `cache` (whose sequences must have
  // room for the positions). Returns logits [tokens with want_logits, vocab], in batch order.
  std::vector<float> forward(const Batch& batch, KvCache& cache) const;

 private:
  explicit DeepSeekModel(const ModelConfig& config) : config_(config), rope_(config) {}

  ModelConfig config_;
  Rope rope_;
  std::unique_ptr<Checkpoint> checkpoint_;       // the mapped files of a loaded model
  std::unique_ptr<RandomWeights> random_;        // or the weights of a random one
  std::unique_ptr<GgufFile> gguf_;               // or the mapped GGUF file
  std::vector<std::unique_ptr<WeightMemory>> placed_;  // the weights moved by repack_weights()
  ModelWeights weights_;
  DType cache_dtype_ = DType::F32;
};

// The routing decision of one token: which experts, with which weights.
struct Route {
  std::vector<int> experts;
  std::vector<float> weights;
};

// DeepSeekMoE's gate on one token's router logits [n_routed_experts].
Route gate(const ModelConfig& config, const float* logits, const std::vector<float>& score_bias);

}  // namespace dseek
