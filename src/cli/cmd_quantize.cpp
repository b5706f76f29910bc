#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "kernels/thread_pool.h"
#include "tools/quantize.h"

namespace dseek::cli {

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Write a model as a llama.cpp-loadable GGUF (deepseek2) in a chosen type");
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto options = std::make_shared<QuantizeOptions>();
  auto threads = std::make_shared<int>(0);
  cmd->add_option("input", *input, "Model directory (config.json + *.safetensors) or a .gguf file")->required();
  cmd->add_option("output", *output, "Output .gguf file")->required();
  cmd->add_option("--type", options->type,
                  "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, or a preset: Q3_K_M, Q4_K_M, Q5_K_M "
                  "(output, attn_v_b, ffn_down* one step wider)")
      ->capture_default_str();
  cmd->add_option("--tensor-type", options->tensor_types,
                  "REGEX=TYPE on GGUF tensor names (e.g. ffn_.*_exps=Q4_K), first match wins; repeatable");
  cmd->add_option("--tokenizer", options->tokenizer_dir, "Directory with tokenizer.json (default: the model directory)");
  cmd->add_option("--split-max-size", options->split_max_bytes,
                  "Write shards of at most this much tensor data (e.g. 45G), named as llama.cpp's gguf-split names them: "
                  "OUTPUT-00001-of-0000N.gguf (OUTPUT less .gguf); open the first. A model that fits in one is written to OUTPUT")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("-t,--threads", *threads, "Threads (default: physical cores)");
  cmd->callback([=] {
    if (*threads > 0) ThreadPool::set_global_threads(*threads);
    QuantizeProgress progress;
    if (isatty(STDERR_FILENO)) {
      auto last = std::make_shared<int>(-1);
      progress = [last](int64_t done, int64_t total) {
        int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
        if (percent == *last) return;
        *last = percent;
        int filled = percent * 30 / 100;
        std::fprintf(stderr, "\rquantizing [%.*s%*s] %3d%%", filled, "##############################", 30 - filled, "",
                     percent);
        if (percent == 100) std::fprintf(stderr, "\n");
      };
    }
    for (const std::string& path : quantize_model(*input, *output, *options, progress))
      std::fprintf(stderr, "wrote %s\n", path.c_str());
  });
}

}  // namespace dseek::cli
