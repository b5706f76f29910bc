#include "cli/model_options.h"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>

#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "model/presets.h"
#include "runtime/kv_cache.h"
#include "util/error.h"

namespace dseek::cli {

void add_model_options(CLI::App* command, ModelOptions& o) {
  command->add_option("model", o.path, "Model directory (config.json + *.safetensors)");
  command->add_option("--preset", o.preset, "Architecture preset, with --dummy: deepseek-v2-lite, deepseek-v2, deepseek-v3, ...");
  command->add_flag("--dummy", o.dummy, "Random weights (no files), like vLLM's dummy load format");
  command->add_option("--layers", o.layers, "With --preset: keep only this many layers (to fit memory)");
  command->add_option("--dtype", o.dtype,
                      "With --dummy: weight format (bf16, f16, f32, fp8), or a type of dseek quantize --type "
                      "(q8_0, q4_k_m, q6_k, ...) for its GGUF layout");
  command->add_option("--seed", o.seed, "With --dummy: random seed");
  command->add_option("-t,--threads", o.threads, "Threads (default: physical cores)");
  command->add_option("--activations", o.activations,
                      "Activations in products with BF16, F16 and FP8 weights: f32 (exact, as DeepSeek's reference "
                      "run in float32), bf16 (rounded to BF16 as llama.cpp and vLLM do: about twice the speed of "
                      "batched decode and prefill, relative error near 1e-3; needs AVX512-BF16) or auto (bf16 where "
                      "the CPU has it)")
      ->check(CLI::IsMember({"f32", "bf16", "auto"}))
      ->capture_default_str();
  command->add_option("--cache-type", o.cache_type,
                      "KV cache type: f32 (exact), f16 or bf16 (half the memory, values rounded; with bf16 "
                      "activations, attention multiplies bf16 directly: about twice as fast over a long context)")
      ->capture_default_str();
  command->add_flag("--no-repack", o.no_repack,
                    "Keep the weights where and as they are stored: by default, the matrices are moved at load time into "
                    "memory of the model's own, backed by transparent huge pages where the system has them (faster "
                    "decode), and Q4_K, Q5_0 and Q8_0 matrices are repacked into 16 interleaved rows for the AVX-512 "
                    "VNNI kernels (faster decode and prefill; 3% more memory for Q4_K; Q4_K's prefill products then "
                    "round its weights to int8 blocks, about 0.7% noise per product, as ik_llama.cpp does)");
}

namespace {

void set_activations(const std::string& activations) {
  bool can = active_isa() == Isa::Avx512 && cpu_features().avx512bf16;
  if (activations == "bf16" && !can)
    fail("--activations bf16 needs the AVX-512 kernels on a CPU with AVX512-BF16; this one has {}", isa_summary());
  set_bf16_activations(activations == "bf16" || (activations == "auto" && can));
}

// A bar on stderr, redrawn when the percentage changes; nothing when stderr is not a terminal.
LoadProgress progress_bar(const char* what) {
  if (!isatty(STDERR_FILENO)) return {};
  auto last = std::make_shared<int>(-1);
  return [what, last](int64_t done, int64_t total) {
    int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
    if (percent == *last) return;
    *last = percent;
    constexpr int kWidth = 30;
    int filled = percent * kWidth / 100;
    std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %.2f/%.2f GB", what, filled, "##############################",
                 kWidth - filled, "", percent, done / 1e9, total / 1e9);
    if (percent == 100) std::fprintf(stderr, "\n");
  };
}

}  // namespace

std::unique_ptr<DeepSeekModel> load_model(const ModelOptions& o) {
  if (o.threads > 0) ThreadPool::set_global_threads(o.threads);
  set_activations(o.activations);
  const DType cache_dtype = parse_kv_cache_type(o.cache_type, "--cache-type");
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<DeepSeekModel> model;
  if (!o.preset.empty() || o.dummy) {
    if (!o.path.empty()) fail("give either a model directory or --preset NAME --dummy, not both");
    if (o.preset.empty() || !o.dummy)
      fail("--preset needs --dummy: dseek has no files for it, only its shape (random weights)");
    ModelConfig config = preset_config(o.preset);
    if (o.layers > 0) config.num_hidden_layers = std::min(config.num_hidden_layers, o.layers);
    std::optional<DType> plain;  // Hugging Face layout; quantized types take GGUF's
    std::string dtype = o.dtype;
    for (char& ch : dtype) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (dtype == "bf16") plain = DType::BF16;
    else if (dtype == "f16") plain = DType::F16;
    else if (dtype == "f32") plain = DType::F32;
    else if (dtype == "fp8") plain = DType::F8_E4M3;
    LoadProgress progress = progress_bar("generating weights");
    model = plain ? DeepSeekModel::random(config, *plain, o.seed, progress)
                  : DeepSeekModel::random(config, QuantPlan(o.dtype, {}, config.num_hidden_layers, "--dtype"), o.seed, progress);
    std::fprintf(stderr, "model: %s preset, %d layers, RANDOM %s weights (not a real model: its text is noise)\n",
                 o.preset.c_str(), config.num_hidden_layers, o.dtype.c_str());
  } else {
    if (o.path.empty()) fail("no model: give a model directory, or --preset NAME --dummy");
    bool gguf = o.path.size() > 5 && o.path.ends_with(".gguf");
    model = gguf ? DeepSeekModel::load_gguf(o.path, progress_bar("loading weights"))
                 : DeepSeekModel::load(o.path, progress_bar("loading weights"));
    std::fprintf(stderr, "model: %s (%s, %d layers)\n", o.path.c_str(), model->config().model_type.c_str(),
                 model->config().num_hidden_layers);
  }
  if (!o.no_repack) {
    auto repack_start = std::chrono::steady_clock::now();
    const DeepSeekModel::Placement placed = model->repack_weights();
    if (placed.repacked_bytes + placed.moved_bytes > 0)
      std::fprintf(stderr, "placed %.2f GB of weights in memory of the model's own, %.2f GB of it repacked for this CPU's kernels, in %.2f s\n",
                   static_cast<double>(placed.repacked_bytes + placed.moved_bytes) / 1e9, static_cast<double>(placed.repacked_bytes) / 1e9,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - repack_start).count());
  }
  model->set_cache_dtype(cache_dtype);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "loaded in %.2f s, %d threads, %s activations, %s KV cache\n", seconds, ThreadPool::global().size(),
               bf16_activations() ? "bf16" : "f32", o.cache_type.c_str());
  return model;
}

std::vector<int32_t> parse_token_list(const std::string& text, const std::string& option) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX)
      fail("{}: \"{}\" is not a token id (expected a comma-separated list like 1,2,3)", option, item);
    ids.push_back(static_cast<int32_t>(value));
    start = end + 1;
  }
  return ids;
}

}  // namespace dseek::cli
