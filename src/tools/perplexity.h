// Quality of a model on text, as llama.cpp's llama-perplexity measures it: the tokens are cut into
// non-overlapping chunks of `ctx`, each chunk is evaluated from an empty cache, and only the
// second half of each chunk is scored, so every scored token has at least ctx/2 tokens of context.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "model/deepseek.h"

namespace dseek {

struct PerplexityOptions {
  int64_t ctx = 512;
  int64_t max_chunks = 0;              // 0: every whole chunk
  std::optional<int32_t> bos;          // replaces each chunk's first token, as llama-perplexity does
};

struct PerplexityResult {
  int64_t chunks = 0, scored = 0;
  double mean_nll = 0;    // nats per scored token
  double nll_stderr = 0;  // standard error of mean_nll
  double ppl() const;
};

// Called after each chunk with the chunks done and the running result.
using ChunkProgress = std::function<void(int64_t chunk, const PerplexityResult& so_far)>;

// Errors name --ctx when the tokens do not fill one chunk or ctx is out of range for the model.
PerplexityResult perplexity(const DeepSeekModel& model, const std::vector<int32_t>& tokens,
                            const PerplexityOptions& options, const ChunkProgress& progress = {});

struct KlResult {
  int64_t chunks = 0, positions = 0;
  double mean_kl = 0, kl_stderr = 0, max_kl = 0;  // KL(base || quant) in nats, per position
  double top1 = 0;                                // share of positions with the same argmax
  PerplexityResult base, quant;                   // each model's own perplexity on the same positions
};

// KL divergence of `quant`'s next-token distributions from `base`'s, over the scored halves of
// the chunks (as perplexity()). The two models must share the vocabulary size.
KlResult kl_divergence(const DeepSeekModel& base, const DeepSeekModel& quant, const std::vector<int32_t>& tokens,
                       const PerplexityOptions& options, const std::function<void(int64_t chunk, const KlResult&)>& progress = {});

}  // namespace dseek
