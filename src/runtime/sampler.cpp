#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "util/error.h"

namespace dseek {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Candidates are binned by (max - logit) / temperature, a log-probability distance from the top
// token; past 32 (a weight of 1e-14) everything shares the last bin.
constexpr int32_t kBins = 1024;
constexpr float kBinsPerUnit = kBins / 32.0f;

SamplingParams validated(SamplingParams params) {
  params.validate();
  return params;
}

uint64_t random_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

void check_tokens(std::span<const int32_t> tokens, size_t vocab, const char* where) {
  for (int32_t token : tokens) {
    if (token < 0 || static_cast<size_t>(token) >= vocab) {
      fail("{}: token {} is outside the vocabulary of {} tokens", where, token, vocab);
    }
  }
}

}  // namespace

void SamplingParams::validate() const {
  if (!(temperature >= 0 && std::isfinite(temperature))) {
    fail("temperature must be >= 0 and finite, got {}", temperature);
  }
  if (top_k < -1) fail("top_k must be >= 1, or 0 or -1 for off, got {}", top_k);
  if (!(top_p > 0 && top_p <= 1)) fail("top_p must be in (0, 1], got {}", top_p);
  if (!(min_p >= 0 && min_p <= 1)) fail("min_p must be in [0, 1], got {}", min_p);
  if (!(repetition_penalty > 0 && std::isfinite(repetition_penalty))) {
    fail("repetition_penalty must be > 0 and finite, got {}", repetition_penalty);
  }
  if (!(presence_penalty >= -2 && presence_penalty <= 2)) {
    fail("presence_penalty must be in [-2, 2], got {}", presence_penalty);
  }
  if (!(frequency_penalty >= -2 && frequency_penalty <= 2)) {
    fail("frequency_penalty must be in [-2, 2], got {}", frequency_penalty);
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0) fail("logit_bias: token ids must be >= 0, got {}", token);
    if (!(std::isfinite(bias) || bias == -kInf)) {
      fail("logit_bias[{}] must be finite or -inf, got {}", token, bias);
    }
  }
  if (n_logprobs < 0) fail("n_logprobs must be >= 0, got {}", n_logprobs);
}

Sampler::Sampler(SamplingParams params)
    : params_(validated(std::move(params))),
      seed_(params_.seed ? *params_.seed : random_seed()),
      rng_(seed_) {}

Sample Sampler::sample(std::span<const float> logits, std::span<const int32_t> prompt,
                       std::span<const int32_t> generated) {
  const size_t vocab = logits.size();
  if (vocab == 0) fail("sample: the logits are empty");
  if (vocab > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    fail("sample: {} logits is more than a token id can index", vocab);
  }

  // The normaliser of the raw log-softmax that the reported logprobs use.
  float raw_max = -kInf;
  for (size_t i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i]) || logits[i] == kInf) {
      fail("sample: the logit of token {} is {}", i, logits[i]);
    }
    raw_max = std::max(raw_max, logits[i]);
  }
  if (raw_max == -kInf) fail("sample: every logit is -inf");
  double sum = 0;
  for (float logit : logits) sum += std::exp(logit - raw_max);
  const double log_norm = raw_max + std::log(sum);

  work_.assign(logits.begin(), logits.end());
  apply_penalties(work_, prompt, generated);
  size_t best = 0;
  for (size_t i = 0; i < vocab; ++i) {
    // A huge bias or a tiny repetition_penalty can push a finite logit to +inf.
    if (!(work_[i] < kInf)) {
      fail("sample: the logit of token {} overflowed after logit_bias and penalties", i);
    }
    if (work_[i] > work_[best]) best = i;
  }
  if (work_[best] == -kInf) {
    fail("sample: no token can be sampled: logit_bias and penalties left every logit at -inf");
  }
  const int32_t token =
      params_.temperature == 0 ? static_cast<int32_t>(best) : draw(work_, work_[best]);

  Sample out{token, static_cast<float>(logits[token] - log_norm), {}};
  const size_t n = std::min(static_cast<size_t>(params_.n_logprobs), vocab);
  if (n > 0) {
    order_.resize(vocab);
    std::iota(order_.begin(), order_.end(), 0);
    std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    out.top.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      out.top.push_back({order_[i], static_cast<float>(logits[order_[i]] - log_norm)});
    }
  }
  return out;
}

void Sampler::apply_penalties(std::span<float> logits, std::span<const int32_t> prompt,
                              std::span<const int32_t> generated) {
  const size_t vocab = logits.size();
  for (const auto& [token, bias] : params_.logit_bias) {
    if (static_cast<size_t>(token) >= vocab) {
      fail("logit_bias: token {} is outside the vocabulary of {} tokens", token, vocab);
    }
    logits[token] += bias;
  }

  const float repetition = params_.repetition_penalty;
  if (repetition != 1) {
    // Checked up front so that an error cannot leave marks behind in seen_.
    check_tokens(prompt, vocab, "prompt");
    check_tokens(generated, vocab, "generated");
    seen_.resize(vocab, 0);
    for (std::span<const int32_t> tokens : {prompt, generated}) {
      for (int32_t token : tokens) {
        if (seen_[token]) continue;
        seen_[token] = 1;
        float& logit = logits[token];
        logit = logit > 0 ? logit / repetition : logit * repetition;
      }
    }
    for (int32_t token : prompt) seen_[token] = 0;
    for (int32_t token : generated) seen_[token] = 0;
  }

  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  if (presence != 0 || frequency != 0) {
    check_tokens(generated, vocab, "generated");
    counts_.resize(vocab, 0);
    for (int32_t token : generated) ++counts_[token];
    for (int32_t token : generated) {
      if (counts_[token] == 0) continue;  // already applied
      logits[token] -= frequency * static_cast<float>(counts_[token]) + presence;
      counts_[token] = 0;
    }
  }
}

bool Sampler::better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

int32_t Sampler::draw(std::span<const float> logits, float max) {
  // Temperature divides (max - logit) so that a tiny temperature gives +inf, never NaN.
  const float temperature = params_.temperature;
  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    const float distance = (max - logits[i]) / temperature;
    const float weight = std::exp(-distance);
    // A zero weight can never be drawn, nor add to top_p's mass, nor pass min_p.
    if (weight == 0) continue;
    const auto bin = static_cast<int32_t>(std::min(distance * kBinsPerUnit, kBins - 1.0f));
    candidates_.push_back({weight, logits[i], static_cast<int32_t>(i), bin});
  }

  const int32_t top_k = params_.top_k;
  if (top_k > 0 && static_cast<size_t>(top_k) < candidates_.size()) keep_top_k(top_k);
  if (params_.top_p < 1) {
    double total = 0;
    for (const Candidate& c : candidates_) total += c.weight;
    keep_top_p(total);
  }
  if (params_.min_p > 0) {
    // The top token has weight 1, so a weight is its probability relative to the top.
    std::erase_if(candidates_, [&](const Candidate& c) { return c.weight < params_.min_p; });
  }

  double total = 0;
  for (const Candidate& c : candidates_) total += c.weight;
  double u = uniform() * total;
  for (const Candidate& c : candidates_) {
    u -= c.weight;
    if (u < 0) return c.token;
  }
  return candidates_.back().token;  // rounding left u a hair above zero
}

// top_k and top_p find the bin where the cut falls from per-bin counts or masses, keep the bins
// before it whole and sort only that bin: linear time over a 129k vocabulary, not a full sort.

std::pair<Sampler::CandidateIt, Sampler::CandidateIt> Sampler::split_at_bin(int32_t cut) {
  const auto end = candidates_.end();
  const auto in_cut =
      std::partition(candidates_.begin(), end, [&](const Candidate& c) { return c.bin < cut; });
  const auto after_cut =
      std::partition(in_cut, end, [&](const Candidate& c) { return c.bin == cut; });
  return {in_cut, after_cut};
}

void Sampler::keep_top_k(size_t k) {
  bin_counts_.assign(kBins, 0);
  for (const Candidate& c : candidates_) ++bin_counts_[c.bin];
  size_t before = 0;
  int32_t cut = 0;
  while (before + bin_counts_[cut] < k) before += bin_counts_[cut++];
  const auto [in_cut, after_cut] = split_at_bin(cut);
  std::nth_element(in_cut, in_cut + (k - before - 1), after_cut, better);
  candidates_.resize(k);
}

void Sampler::keep_top_p(double total) {
  bin_mass_.assign(kBins, 0.0);
  for (const Candidate& c : candidates_) bin_mass_[c.bin] += c.weight;
  const double target = params_.top_p * total;
  double mass = 0;
  int32_t cut = 0;
  while (cut < kBins - 1 && mass + bin_mass_[cut] < target) mass += bin_mass_[cut++];
  const auto [in_cut, after_cut] = split_at_bin(cut);
  std::sort(in_cut, after_cut, better);
  for (auto it = in_cut; it != after_cut; ++it) {
    mass += it->weight;
    if (mass >= target) {
      candidates_.erase(it + 1, candidates_.end());
      return;
    }
  }
  // Summed in another order the cut bin fell a rounding error short: keep all of it.
  candidates_.erase(after_cut, candidates_.end());
}

double Sampler::uniform() {
  // 53 random bits: std::uniform_real_distribution differs between standard libraries.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

}  // namespace dseek
