// Turns one position's logits into the next token, like vLLM and llama.cpp:
// logit_bias -> repetition/frequency/presence penalties -> temperature -> top_k -> top_p
// -> min_p -> draw. Temperature 0 is greedy (bias and penalties still apply).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace dseek {

struct SamplingParams {
  float temperature = 1.0f;  // >= 0; 0 is greedy
  int32_t top_k = 0;         // keep the k most likely tokens; 0 or -1: off
  float top_p = 1.0f;        // (0, 1]: keep the smallest set of top tokens holding this mass
  float min_p = 0.0f;        // [0, 1]: drop tokens less likely than min_p * the top token's p
  // HF semantics over every token of prompt and output: positive logits are divided by it,
  // negative ones multiplied. > 0; 1 is off.
  float repetition_penalty = 1.0f;
  // OpenAI semantics over output tokens only: logit -= frequency * count + presence * (count > 0).
  float presence_penalty = 0.0f;   // [-2, 2]
  float frequency_penalty = 0.0f;  // [-2, 2]
  std::map<int32_t, float> logit_bias;  // added to the token's logit; -inf bans it
  std::optional<uint64_t> seed;         // none: a random seed
  int32_t n_logprobs = 0;               // how many most likely tokens Sample::top reports

  // Throws dseek::Error naming the first field out of range.
  void validate() const;
};

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct Sample {
  int32_t token;
  // Log-softmax of the raw model logits (before bias, penalties, temperature and truncation),
  // as vLLM and OpenAI report by default: what the model thinks, not what the filters allowed.
  float logprob;
  std::vector<TokenLogprob> top;  // min(n_logprobs, vocab) most likely by the same measure
};

// One per sequence: it owns the random state, so the same seed and the same logits give the
// same tokens. Not thread-safe.
class Sampler {
 public:
  explicit Sampler(SamplingParams params);  // validates params

  // Token ids in `prompt` and `generated` must lie in [0, logits.size()).
  Sample sample(std::span<const float> logits, std::span<const int32_t> prompt,
                std::span<const int32_t> generated);

  // The first step of sample(): logit_bias, then the penalties, in place.
  void apply_penalties(std::span<float> logits, std::span<const int32_t> prompt,
                       std::span<const int32_t> generated);

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }  // the one in use, to reproduce a run

 private:
  struct Candidate {
    float weight;  // exp((logit - max) / temperature), so 1 for the top token
    float logit;
    int32_t token;
    int32_t bin;  // of (max - logit) / temperature: a coarse order that needs no sort
  };

  using CandidateIt = std::vector<Candidate>::iterator;

  static bool better(const Candidate& a, const Candidate& b);  // more likely, then lower id
  int32_t draw(std::span<const float> logits, float max);
  // Bins before `cut` first, then bin `cut`'s candidates; returns where they start and end.
  std::pair<CandidateIt, CandidateIt> split_at_bin(int32_t cut);
  void keep_top_k(size_t k);
  void keep_top_p(double total);
  double uniform();  // [0, 1), the same on every standard library

  SamplingParams params_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  // Scratch reused across calls: the vocabulary is large and a call is made per token.
  std::vector<float> work_;
  std::vector<Candidate> candidates_;
  std::vector<uint8_t> seen_;
  std::vector<int32_t> counts_;
  std::vector<int32_t> order_;
  std::vector<size_t> bin_counts_;
  std::vector<double> bin_mass_;
};

}  // namespace dseek
