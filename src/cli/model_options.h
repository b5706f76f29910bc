// Options every model-running subcommand shares: where the model comes from, and threads.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "model/deepseek.h"

namespace dseek::cli {

struct ModelOptions {
  std::string path;           // a Hugging Face model directory
  std::string preset;         // or an architecture preset with random weights
  bool dummy = false;
  int layers = 0;             // cut a preset to this many layers (0: all)
  std::string dtype = "bf16"; // weight format of random weights
  uint64_t seed = 0;
  int threads = 0;            // 0: one per physical core
  // Activations in products with 16-bit and FP8 weights: f32 (exact), bf16 (set_bf16_activations)
  // or auto (bf16 where the CPU has AVX512-BF16).
  std::string activations = "f32";
  bool no_repack = false;  // keep weights in their stored layout (DeepSeekModel::repack_weights)
  std::string cache_type = "f32";  // the KV cache's type: f32 (exact), f16 or bf16
};

void add_model_options(CLI::App* command, ModelOptions& options);

// Sets the thread count and the activations' precision, then loads the model and repacks its
// weights for this CPU; prints what it loaded and how long it took.
std::unique_ptr<DeepSeekModel> load_model(const ModelOptions& options);

// "1,2,3" -> {1, 2, 3}; errors name the option.
std::vector<int32_t> parse_token_list(const std::string& text, const std::string& option);

}  // namespace dseek::cli
