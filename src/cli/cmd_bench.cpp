// `dseek bench`: llama-bench's pp/tg figures, peak memory, and how close decode comes to
// the machine's memory bandwidth, measured in the same run.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "kernels/bandwidth.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "runtime/engine.h"
#include "util/error.h"

namespace dseek::cli {
namespace {

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

struct BenchOptions {
  int prompt_tokens = 512;
  int generated_tokens = 128;
  int depth = 0;
  double bandwidth_gib = 1.0;
  int repetitions = 1;
};

// Tokens/s of repeated runs: llama-bench's mean ± standard deviation, and the best, which a
// busy machine disturbs least.
struct Rates {
  std::vector<double> values;
  void add(double rate) { values.push_back(rate); }
  double mean() const { return std::accumulate(values.begin(), values.end(), 0.0) / values.size(); }
  double sd() const {
    double m = mean(), sum = 0;
    for (double v : values) sum += (v - m) * (v - m);
    return values.size() > 1 ? std::sqrt(sum / (values.size() - 1)) : 0.0;
  }
  double best() const { return *std::max_element(values.begin(), values.end()); }
};

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Prefill (pp) and decode (tg) speed, peak RSS, decode bandwidth");
  auto options = std::make_shared<ModelOptions>();
  auto bench = std::make_shared<BenchOptions>();
  add_model_options(cmd, *options);
  // 0 skips a test, as in llama-bench.
  cmd->add_option("-p,--prompt-tokens", bench->prompt_tokens, "Prefill test length (pp; 0: none)")->check(CLI::Range(0, 1000000));
  cmd->add_option("-g,--gen-tokens", bench->generated_tokens, "Decode test length (tg; 0: none)")->check(CLI::Range(0, 1000000));
  cmd->add_option("-d,--depth", bench->depth,
                  "Tokens already in the context when each test starts (llama-bench's pp512 @ d4096): they are prefilled once, "
                  "untimed, in the server's prompt chunks")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("-r,--repetitions", bench->repetitions, "Runs of each test (mean ± sd, and the best)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--bandwidth-gib", bench->bandwidth_gib, "Buffer size of the bandwidth measurement")
      ->check(CLI::PositiveNumber);
  cmd->callback([=] {
    if (bench->prompt_tokens == 0 && bench->generated_tokens == 0) fail("--prompt-tokens and --gen-tokens are both 0: no test to run");
    auto model = load_model(*options);
    const ModelConfig& config = model->config();
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> any_token(0, static_cast<int32_t>(config.vocab_size - 1));
    const int64_t depth = bench->depth, longest = depth + std::max(bench->prompt_tokens, bench->generated_tokens);
    if (longest > config.max_position_embeddings)
      fail("--depth {} plus the longest test ({} tokens) exceeds the model's context of {} tokens", depth,
           longest - depth, config.max_position_embeddings);
    KvCache cache = model->make_cache(longest + 1);
    using clock = std::chrono::steady_clock;

    // Warm-up: faults the weights in and starts the threads.
    int warm = cache.add_sequence();
    cache.reserve(warm, 1);
    Batch batch;
    batch.add(any_token(rng), 0, warm, true);
    model->forward(batch, cache);
    cache.remove_sequence(warm);

    // One sequence holds the depth; each test writes its tokens after it, over the last test's,
    // which no later token sees: attention reads positions below its own only.
    const int seq = cache.add_sequence();
    cache.reserve(seq, longest);
    const int64_t chunk = EngineOptions{}.step_tokens;
    for (int64_t first = 0; first < depth; first += chunk) {
      batch.clear();
      for (int64_t t = first; t < std::min(depth, first + chunk); ++t) batch.add(any_token(rng), t, seq, t + 1 == depth);
      model->forward(batch, cache);
    }

    auto prefill = [&] {
      batch.clear();
      for (int t = 0; t < bench->prompt_tokens; ++t) batch.add(any_token(rng), depth + t, seq, t + 1 == bench->prompt_tokens);
      auto start = clock::now();
      model->forward(batch, cache);
      return std::chrono::duration<double>(clock::now() - start).count();
    };
    auto decode = [&] {
      int32_t token = any_token(rng);
      auto start = clock::now();
      for (int t = 0; t < bench->generated_tokens; ++t) {
        batch.clear();
        batch.add(token, depth + t, seq, true);
        std::vector<float> logits = model->forward(batch, cache);
        token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      return std::chrono::duration<double>(clock::now() - start).count();
    };
    Rates pp, tg;
    for (int r = 0; bench->prompt_tokens > 0 && r < bench->repetitions; ++r) pp.add(bench->prompt_tokens / prefill());
    for (int r = 0; bench->generated_tokens > 0 && r < bench->repetitions; ++r) tg.add(bench->generated_tokens / decode());

    double peak_rss = peak_rss_gib();  // before the bandwidth buffers add theirs
    size_t buffer = static_cast<size_t>(bench->bandwidth_gib * (1 << 30));
    double read_gbs = measure_read_bandwidth(buffer), copy_gbs = measure_copy_bandwidth(buffer);

    // llama-bench's test names: pp512, tg128, and " @ d4096" with a depth.
    auto name = [&](const char* test, int tokens) { return test + std::to_string(tokens) + (depth > 0 ? " @ d" + std::to_string(depth) : ""); };
    const int width = static_cast<int>(std::max({size_t{6}, name("pp", bench->prompt_tokens).size(), name("tg", bench->generated_tokens).size()}));
    std::printf("| %-*s | %16s | %8s |\n", width, "test", "t/s", "best t/s");
    auto row = [&](const char* test, int tokens, const Rates& rates) {
      if (tokens > 0) std::printf("| %-*s | %7.2f ± %6.2f | %8.2f |\n", width, name(test, tokens).c_str(), rates.mean(), rates.sd(), rates.best());
    };
    row("pp", bench->prompt_tokens, pp);
    row("tg", bench->generated_tokens, tg);
    std::printf("threads: %d, kernels: %s, activations: %s, KV cache: %s\n", ThreadPool::global().size(), isa_summary().c_str(),
                bf16_activations() ? "bf16" : "f32", std::string(dtype_name(model->cache_dtype())).c_str());
    std::printf("peak RSS: %.2f GiB\n", peak_rss);
    std::printf("machine bandwidth (same run): read %.1f GB/s, copy %.1f GB/s\n", read_gbs, copy_gbs);
    if (bench->generated_tokens > 0) {
      double bytes_per_token = static_cast<double>(model->weights().decode_bytes(config));
      double decode_gbs = bytes_per_token * tg.mean() / 1e9;
      std::printf("decode reads %.1f MB of weights per token: %.1f GB/s\n", bytes_per_token / 1e6, decode_gbs);
      std::printf("decode bandwidth: %.0f%% of read, %.0f%% of copy\n", 100 * decode_gbs / read_gbs, 100 * decode_gbs / copy_gbs);
    }
  });
}

}  // namespace dseek::cli
