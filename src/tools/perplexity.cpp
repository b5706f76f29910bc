#include "tools/perplexity.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace dseek {
namespace {

// Running mean and standard error of per-token values.
struct Stats {
  double sum = 0, sum_sq = 0;
  int64_t n = 0;
  void add(double v) {
    sum += v;
    sum_sq += v * v;
    ++n;
  }
  double mean() const { return n ? sum / n : 0; }
  double stderr_of_mean() const {
    if (n < 2) return 0;
    double var = std::max(0.0, sum_sq / n - mean() * mean());
    return std::sqrt(var / (n - 1));
  }
};

int64_t chunk_count(const DeepSeekModel& model, const std::vector<int32_t>& tokens, const PerplexityOptions& o) {
  int64_t max_ctx = model.config().max_position_embeddings;
  if (o.ctx < 4 || o.ctx > max_ctx) fail("--ctx {}: must be between 4 and the model's context, {}", o.ctx, max_ctx);
  int64_t chunks = static_cast<int64_t>(tokens.size()) / o.ctx;
  if (chunks == 0) fail("--ctx {}: the input has only {} tokens, less than one chunk", o.ctx, tokens.size());
  return o.max_chunks > 0 ? std::min(chunks, o.max_chunks) : chunks;
}

std::vector<int32_t> chunk_tokens(const std::vector<int32_t>& tokens, int64_t chunk, const PerplexityOptions& o) {
  std::vector<int32_t> out(tokens.begin() + chunk * o.ctx, tokens.begin() + (chunk + 1) * o.ctx);
  if (o.bos) out.front() = *o.bos;
  return out;
}

// Logits [ctx - 1 - first, vocab] at positions first .. ctx-2 of one chunk, from an empty cache.
std::vector<float> scored_logits(const DeepSeekModel& model, const std::vector<int32_t>& chunk, int64_t first) {
  int64_t n = static_cast<int64_t>(chunk.size());
  KvCache cache = model.make_cache(n);
  int seq = cache.add_sequence();
  cache.reserve(seq, n);
  Batch batch;
  for (int64_t t = 0; t < n; ++t) batch.add(chunk[t], t, seq, t >= first && t < n - 1);
  return model.forward(batch, cache);
}

// log softmax of x[n] into out.
void log_softmax(const float* x, int64_t n, std::vector<double>& out) {
  out.resize(n);
  double max = *std::max_element(x, x + n), sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max);
  double log_sum = max + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - log_sum;
}

void finish(const Stats& s, int64_t chunks, PerplexityResult& r) {
  r.chunks = chunks;
  r.scored = s.n;
  r.mean_nll = s.mean();
  r.nll_stderr = s.stderr_of_mean();
}

}  // namespace

double PerplexityResult::ppl() const { return std::exp(mean_nll); }

PerplexityResult perplexity(const DeepSeekModel& model, const std::vector<int32_t>& tokens,
                            const PerplexityOptions& options, const ChunkProgress& progress) {
  int64_t chunks = chunk_count(model, tokens, options), vocab = model.config().vocab_size;
  int64_t first = options.ctx / 2;
  Stats nll;
  PerplexityResult result;
  std::vector<double> logp;
  for (int64_t c = 0; c < chunks; ++c) {
    std::vector<int32_t> chunk = chunk_tokens(tokens, c, options);
    std::vector<float> logits = scored_logits(model, chunk, first);
    for (int64_t t = first; t < options.ctx - 1; ++t) {
      log_softmax(logits.data() + (t - first) * vocab, vocab, logp);
      nll.add(-logp[chunk[t + 1]]);
    }
    finish(nll, c + 1, result);
    if (progress) progress(c + 1, result);
  }
  return result;
}

KlResult kl_divergence(const DeepSeekModel& base, const DeepSeekModel& quant, const std::vector<int32_t>& tokens,
                       const PerplexityOptions& options, const std::function<void(int64_t, const KlResult&)>& progress) {
  int64_t vocab = base.config().vocab_size;
  if (quant.config().vocab_size != vocab)
    fail("the models' vocabularies differ: {} and {} tokens", vocab, quant.config().vocab_size);
  int64_t chunks = chunk_count(base, tokens, options), first = options.ctx / 2;
  Stats kl, nll_base, nll_quant;
  int64_t same = 0;
  KlResult result;
  std::vector<double> p, q;
  for (int64_t c = 0; c < chunks; ++c) {
    std::vector<int32_t> chunk = chunk_tokens(tokens, c, options);
    std::vector<float> lb = scored_logits(base, chunk, first), lq = scored_logits(quant, chunk, first);
    for (int64_t t = first; t < options.ctx - 1; ++t) {
      const float* xb = lb.data() + (t - first) * vocab;
      const float* xq = lq.data() + (t - first) * vocab;
      log_softmax(xb, vocab, p);
      log_softmax(xq, vocab, q);
      double d = 0;
      for (int64_t i = 0; i < vocab; ++i) d += std::exp(p[i]) * (p[i] - q[i]);
      d = std::max(d, 0.0);  // rounding can make a zero divergence slightly negative
      kl.add(d);
      result.max_kl = std::max(result.max_kl, d);
      same += std::max_element(xb, xb + vocab) - xb == std::max_element(xq, xq + vocab) - xq;
      nll_base.add(-p[chunk[t + 1]]);
      nll_quant.add(-q[chunk[t + 1]]);
    }
    result.chunks = c + 1;
    result.positions = kl.n;
    result.mean_kl = kl.mean();
    result.kl_stderr = kl.stderr_of_mean();
    result.top1 = static_cast<double>(same) / kl.n;
    finish(nll_base, c + 1, result.base);
    finish(nll_quant, c + 1, result.quant);
    if (progress) progress(c + 1, result);
  }
  return result;
}

}  // namespace dseek
