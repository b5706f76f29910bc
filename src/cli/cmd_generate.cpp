#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

int32_t argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Greedy decoding from token ids; prints the new ids");
  auto options = std::make_shared<ModelOptions>();
  auto tokens = std::make_shared<std::string>();
  auto count = std::make_shared<int>(16);
  add_model_options(cmd, *options);
  cmd->add_option("--tokens", *tokens, "Comma-separated prompt token ids")->required();
  cmd->add_option("-n,--n-predict", *count, "Tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->callback([=] {
    std::vector<int32_t> prompt = parse_token_list(*tokens, "--tokens");
    auto model = load_model(*options);
    const ModelConfig& config = model->config();
    int64_t total = static_cast<int64_t>(prompt.size()) + *count;
    if (total > config.max_position_embeddings)
      fail("prompt ({} tokens) plus -n {} exceeds the model's context of {} tokens", prompt.size(), *count,
           config.max_position_embeddings);
    KvCache cache = model->make_cache(total);
    int seq = cache.add_sequence();
    cache.reserve(seq, total);

    auto start = std::chrono::steady_clock::now();
    Batch batch;
    for (size_t t = 0; t < prompt.size(); ++t) batch.add(prompt[t], t, seq, t + 1 == prompt.size());
    int32_t next = argmax(model->forward(batch, cache));
    double prefill_seconds = seconds_since(start);

    start = std::chrono::steady_clock::now();
    for (int i = 0; i < *count; ++i) {
      std::printf(i ? " %d" : "%d", next);
      std::fflush(stdout);
      if (i + 1 == *count) break;
      batch.clear();
      batch.add(next, static_cast<int64_t>(prompt.size()) + i, seq, true);
      next = argmax(model->forward(batch, cache));
    }
    std::printf("\n");
    double decode_seconds = seconds_since(start);
    std::fprintf(stderr, "prefill: %zu tokens in %.3f s (%.2f tokens/s)\n", prompt.size(), prefill_seconds,
                 prompt.size() / prefill_seconds);
    if (*count > 1)
      std::fprintf(stderr, "decode: %d tokens in %.3f s (%.2f tokens/s)\n", *count - 1, decode_seconds,
                   (*count - 1) / decode_seconds);
  });
}

}  // namespace dseek::cli
