#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"

namespace dseek {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<double> normalized(std::vector<double> weights) {
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (double& w : weights) w /= total;
  return weights;
}

std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[sampler.sample(logits, {}, {}).token];
  return counts;
}

// Pearson's chi-square against `expected` probabilities. A token expected never must never come;
// the statistic over the others must stay under the 0.1% critical value (a fixed seed makes the
// test repeatable; a wrong sampler lands in the hundreds with this many draws).
void expect_distribution(const std::vector<int>& counts, const std::vector<double>& expected) {
  ASSERT_EQ(counts.size(), expected.size());
  const int draws = std::accumulate(counts.begin(), counts.end(), 0);
  double chi2 = 0;
  int categories = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should never be sampled";
      continue;
    }
    const double e = expected[i] * draws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++categories;
  }
  // By degrees of freedom; with one possible token the zero checks above said it all.
  const double critical[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52};
  ASSERT_LE(categories, 6);
  if (categories > 1) {
    EXPECT_LT(chi2, critical[categories - 1]);
  }
}

SamplingParams seeded(uint64_t seed) {
  SamplingParams params;
  params.seed = seed;
  return params;
}

TEST(SamplerDistribution, MatchesTheSoftmax) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> logits = log_of(probs);
  for (float& l : logits) l += 3;  // softmax ignores a shift
  Sampler sampler(seeded(1));
  expect_distribution(histogram(sampler, logits, 20000), probs);
}

TEST(SamplerDistribution, TemperatureSharpensAndFlattens) {
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  for (float temperature : {0.5f, 2.0f}) {
    SamplingParams params = seeded(2);
    params.temperature = temperature;
    Sampler sampler(params);
    std::vector<double> expected;
    for (double p : probs) expected.push_back(std::pow(p, 1.0 / temperature));
    expect_distribution(histogram(sampler, log_of(probs), 20000), normalized(expected));
  }
}

TEST(SamplerDistribution, TopKKeepsOnlyTheKMostLikely) {
  const std::vector<double> probs = {0.1, 0.4, 0.2, 0.3};
  SamplingParams params = seeded(3);
  params.top_k = 2;
  Sampler sampler(params);
  expect_distribution(histogram(sampler, log_of(probs), 20000), {0, 4.0 / 7, 0, 3.0 / 7});

  for (int32_t off : {0, -1}) {
    params.top_k = off;
    Sampler all(params);
    expect_distribution(histogram(all, log_of(probs), 20000), probs);
  }
}

TEST(SamplerDistribution, TopPCutsAtTheSmallestSetHoldingTheMass) {
  // Sorted, the mass is 0.5, 0.8, 0.95, 1.0.
  const std::vector<double> probs = {0.15, 0.5, 0.05, 0.3};
  struct Case {
    float top_p;
    std::vector<double> expected;
  };
  const Case cases[] = {
      {0.45f, {0, 1, 0, 0}},
      {0.79f, {0, 5.0 / 8, 0, 3.0 / 8}},
      {0.81f, {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95}},
      {1.0f, probs},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.top_p);
    SamplingParams params = seeded(4);
    params.top_p = c.top_p;
    Sampler sampler(params);
    expect_distribution(histogram(sampler, log_of(probs), 20000), c.expected);
  }
}

TEST(SamplerDistribution, TopPSeesTheTemperatureScaledDistribution) {
  // At temperature 0.5 the probabilities become ~0.685, 0.247, 0.062, 0.007: top_p 0.9 keeps
  // two tokens, where at temperature 1 (0.5, 0.8, 0.95) it would keep three.
  const std::vector<double> probs = {0.5, 0.3, 0.15, 0.05};
  SamplingParams params = seeded(5);
  params.temperature = 0.5f;
  params.top_p = 0.9f;
  Sampler sampler(params);
  expect_distribution(histogram(sampler, log_of(probs), 20000), normalized({0.25, 0.09, 0, 0}));
}

TEST(SamplerDistribution, TopPRenormalizesAfterTopK) {
  // Within the top 3 the mass is 0.444, 0.778: top_p 0.75 keeps two. Over all four tokens
  // (0.4, 0.7, 0.9) it would keep three.
  const std::vector<double> probs = {0.4, 0.3, 0.2, 0.1};
  SamplingParams params = seeded(6);
  params.top_k = 3;
  params.top_p = 0.75f;
  Sampler sampler(params);
  expect_distribution(histogram(sampler, log_of(probs), 20000), {0.4 / 0.7, 0.3 / 0.7, 0, 0});
}

TEST(SamplerDistribution, MinPDropsTokensFarBelowTheTop) {
  const std::vector<double> probs = {0.15, 0.5, 0.05, 0.3};
  struct Case {
    float min_p;
    std::vector<double> expected;
  };
  const Case cases[] = {
      {0.35f, {0, 0.5 / 0.8, 0, 0.3 / 0.8}},                // keeps p >= 0.175
      {0.2f, {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95}},     // keeps p >= 0.1
      {1.0f, {0, 1, 0, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.min_p);
    SamplingParams params = seeded(7);
    params.min_p = c.min_p;
    Sampler sampler(params);
    expect_distribution(histogram(sampler, log_of(probs), 20000), c.expected);
  }
}

// A vocabulary of DeepSeek's size and a flat distribution, so the nucleus holds thousands of
// tokens and the chunked partial sort has to grow several times.
TEST(SamplerDistribution, TopPOnAFullVocabularyStaysInTheNucleus) {
  constexpr size_t kVocab = 129280;
  std::mt19937 gen(9);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = static_cast<float>(gen() % 4000) / 1000.0f;

  std::vector<int32_t> order(kVocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  double total = 0;
  for (float l : logits) total += std::exp(static_cast<double>(l));
  std::vector<bool> in_nucleus(kVocab, false);
  double mass = 0;
  size_t nucleus = 0;
  while (mass < 0.5 * total) {
    mass += std::exp(static_cast<double>(logits[order[nucleus]]));
    in_nucleus[order[nucleus++]] = true;
  }
  ASSERT_GT(nucleus, 1000u);

  SamplingParams params = seeded(10);
  params.top_p = 0.5f;
  Sampler sampler(params);
  for (int i = 0; i < 40; ++i) {
    const int32_t token = sampler.sample(logits, {}, {}).token;
    EXPECT_TRUE(in_nucleus[token]) << "token " << token;
  }

  // Logits repeat (4000 values over 129280 tokens): top_k keeps exactly k, lower ids first.
  constexpr size_t kTopK = 1000;
  std::vector<bool> in_top_k(kVocab, false);
  for (size_t i = 0; i < kTopK; ++i) in_top_k[order[i]] = true;
  ASSERT_EQ(logits[order[kTopK - 1]], logits[order[kTopK]]);  // the cut splits a tie
  params.top_p = 1.0f;
  params.top_k = kTopK;
  Sampler top_k(params);
  for (int i = 0; i < 40; ++i) {
    const int32_t token = top_k.sample(logits, {}, {}).token;
    EXPECT_TRUE(in_top_k[token]) << "token " << token;
  }
}

TEST(SamplerDistribution, CutsBetweenNearlyEqualTokens) {
  // Logits a hair apart, so no coarse ordering can tell them apart: the cuts must still be exact.
  const std::vector<float> logits = {-0.003f, 0.0f, -0.001f, -0.002f};
  std::vector<double> weights;
  for (float l : logits) weights.push_back(std::exp(static_cast<double>(l)));

  SamplingParams params = seeded(17);
  params.top_p = 0.3f;  // the two most likely hold ~0.5
  Sampler top_p(params);
  expect_distribution(histogram(top_p, logits, 20000), normalized({0, weights[1], weights[2], 0}));

  params.top_p = 1.0f;
  params.top_k = 3;
  Sampler top_k(params);
  expect_distribution(histogram(top_k, logits, 20000),
                      normalized({0, weights[1], weights[2], weights[3]}));
}

TEST(SamplerGreedy, TakesTheArgmaxWithTheLowestIdOnTies) {
  SamplingParams params;
  params.temperature = 0;
  Sampler sampler(params);
  EXPECT_EQ(sampler.sample(std::vector<float>{0.5f, 2.0f, -1.0f, 2.0f}, {}, {}).token, 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{-kInf, -3.0f, -kInf}, {}, {}).token, 1);
}

TEST(SamplerGreedy, TinyTemperatureIsGreedyWithoutNaN) {
  SamplingParams params = seeded(11);
  params.temperature = 1e-30f;
  Sampler sampler(params);
  const std::vector<float> logits = {1.0f, 1.5f, 1.49f, -kInf};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sampler.sample(logits, {}, {}).token, 1);
}

TEST(SamplerGreedy, PenaltiesAndBiasStillApply) {
  SamplingParams params;
  params.temperature = 0;
  params.repetition_penalty = 2.0f;
  Sampler sampler(params);
  const std::vector<float> logits = {3.0f, 2.0f, 1.0f};
  const std::vector<int32_t> prompt = {0};
  EXPECT_EQ(sampler.sample(logits, {}, {}).token, 0);
  EXPECT_EQ(sampler.sample(logits, prompt, {}).token, 1);  // 3 / 2 < 2

  params.repetition_penalty = 1.0f;
  params.logit_bias = {{2, 2.5f}};
  Sampler biased(params);
  EXPECT_EQ(biased.sample(logits, {}, {}).token, 2);  // 1 + 2.5 > 3
}

TEST(SamplerPenalties, MatchTheFormulas) {
  SamplingParams params;
  params.repetition_penalty = 1.3f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.25f;
  params.logit_bias = {{0, 1.0f}, {2, 1.5f}, {4, -kInf}};
  Sampler sampler(params);

  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, -0.5f};
  const std::vector<int32_t> prompt = {0, 1, 1, 6};
  const std::vector<int32_t> generated = {3, 1, 3, 3};
  sampler.apply_penalties(logits, prompt, generated);

  // Bias first, then repetition over prompt and output (once per distinct token), then
  // frequency and presence over the output.
  EXPECT_FLOAT_EQ(logits[0], (2.0f + 1.0f) / 1.3f);
  EXPECT_FLOAT_EQ(logits[1], -1.0f * 1.3f - (0.25f * 1 + 0.5f));
  EXPECT_FLOAT_EQ(logits[2], 0.5f + 1.5f);
  EXPECT_FLOAT_EQ(logits[3], 3.0f / 1.3f - (0.25f * 3 + 0.5f));
  EXPECT_EQ(logits[4], -kInf);
  EXPECT_FLOAT_EQ(logits[5], 0.0f);
  EXPECT_FLOAT_EQ(logits[6], -0.5f * 1.3f);

  // The scratch marks are cleared: a second call without history changes nothing but the bias.
  std::vector<float> fresh = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, -0.5f};
  sampler.apply_penalties(fresh, {}, {});
  EXPECT_FLOAT_EQ(fresh[0], 3.0f);
  EXPECT_FLOAT_EQ(fresh[1], -1.0f);
  EXPECT_FLOAT_EQ(fresh[3], 3.0f);
}

TEST(SamplerPenalties, NegativePresenceEncouragesRepeats) {
  SamplingParams params;
  params.presence_penalty = -1.0f;
  Sampler sampler(params);
  std::vector<float> logits = {0.0f, 0.0f};
  const std::vector<int32_t> generated = {1, 1};
  sampler.apply_penalties(logits, {}, generated);
  EXPECT_FLOAT_EQ(logits[0], 0.0f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f);
}

TEST(SamplerPenalties, FrequencyPenaltyShiftsTheDistribution) {
  // logit -= 0.5 * count: after two draws of token 0 its weight is e^-1 of the others'.
  SamplingParams params = seeded(12);
  params.frequency_penalty = 0.5f;
  Sampler sampler(params);
  const std::vector<float> logits = {0.0f, 0.0f, 0.0f};
  const std::vector<int32_t> generated = {0, 0};
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 20000; ++i) ++counts[sampler.sample(logits, {}, generated).token];
  expect_distribution(counts, normalized({std::exp(-1.0), 1, 1}));
}

TEST(SamplerLogitBias, MinusInfinityBansAToken) {
  SamplingParams params = seeded(13);
  params.logit_bias = {{2, -kInf}};
  Sampler sampler(params);
  const std::vector<double> expected = {1.0 / 3, 1.0 / 3, 0, 1.0 / 3};
  expect_distribution(histogram(sampler, std::vector<float>(4, 0.0f), 8000), expected);

  params.temperature = 0;
  Sampler greedy(params);
  EXPECT_EQ(greedy.sample(std::vector<float>{0.0f, 1.0f, 5.0f}, {}, {}).token, 1);

  params.logit_bias = {{0, -kInf}, {1, -kInf}};
  Sampler none_left(params);
  EXPECT_THROW(none_left.sample(std::vector<float>{1.0f, 2.0f}, {}, {}), Error);
}

std::vector<int32_t> run(Sampler& sampler, const std::vector<float>& logits, int steps) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < steps; ++i) tokens.push_back(sampler.sample(logits, {}, tokens).token);
  return tokens;
}

TEST(SamplerSeed, SameSeedSameTokensOtherSeedOtherTokens) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 0.37) * 3);
  SamplingParams params = seeded(42);
  params.top_k = 50;
  params.top_p = 0.9f;
  params.frequency_penalty = 0.3f;

  Sampler a(params), b(params);
  const std::vector<int32_t> tokens = run(a, logits, 200);
  EXPECT_EQ(tokens, run(b, logits, 200));
  EXPECT_EQ(a.seed(), 42u);

  params.seed = 43;
  Sampler other(params);
  EXPECT_NE(tokens, run(other, logits, 200));

  // Without a seed a random one is chosen, and reported so the run can be repeated.
  params.seed.reset();
  Sampler unseeded(params);
  const std::vector<int32_t> first = run(unseeded, logits, 200);
  params.seed = unseeded.seed();
  Sampler replay(params);
  EXPECT_EQ(first, run(replay, logits, 200));
}

double log_softmax(const std::vector<float>& logits, size_t token) {
  double max = -std::numeric_limits<double>::infinity();
  for (float l : logits) max = std::max(max, static_cast<double>(l));
  double sum = 0;
  for (float l : logits) sum += std::exp(l - max);
  return logits[token] - max - std::log(sum);
}

TEST(SamplerLogprobs, AreTheRawLogSoftmaxSortedAndSumToOne) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 2.0f, -kInf, -3.0f};
  SamplingParams params = seeded(14);
  params.n_logprobs = 100;  // more than the vocabulary: all of it
  params.temperature = 0.3f;
  params.logit_bias = {{5, 10.0f}};
  Sampler sampler(params);
  const Sample s = sampler.sample(logits, {}, {});

  ASSERT_EQ(s.top.size(), logits.size());
  const std::vector<int32_t> order = {1, 3, 0, 2, 5, 4};  // ties by lower id
  double total = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(s.top[i].token, order[i]);
    if (std::isinf(logits[order[i]])) continue;  // checked below; NEAR cannot compare -inf
    // Temperature and bias do not change what is reported.
    EXPECT_NEAR(s.top[i].logprob, log_softmax(logits, order[i]), 1e-5);
    total += std::exp(static_cast<double>(s.top[i].logprob));
  }
  EXPECT_EQ(s.top.back().logprob, -kInf);
  EXPECT_NEAR(total, 1.0, 1e-6);
  EXPECT_EQ(s.token, 5);  // 10 / 0.3 above the rest: the bias decided the draw
  EXPECT_NEAR(s.logprob, log_softmax(logits, 5), 1e-5);
}

TEST(SamplerLogprobs, TopNOnly) {
  std::vector<float> logits(5000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::cos(i * 1.7));
  SamplingParams params = seeded(15);
  params.n_logprobs = 3;
  Sampler sampler(params);
  const Sample s = sampler.sample(logits, {}, {});
  ASSERT_EQ(s.top.size(), 3u);
  std::vector<float> sorted = logits;
  std::sort(sorted.rbegin(), sorted.rend());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(logits[s.top[i].token], sorted[i]);

  params.n_logprobs = 0;
  Sampler none(params);
  EXPECT_TRUE(none.sample(logits, {}, {}).top.empty());
}

TEST(SamplerParams, ValidateNamesTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::pair<std::string, std::function<void(SamplingParams&)>> cases[] = {
      {"temperature", [](SamplingParams& p) { p.temperature = -0.1f; }},
      {"temperature", [&](SamplingParams& p) { p.temperature = nan; }},
      {"temperature", [](SamplingParams& p) { p.temperature = kInf; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -2; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.1f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.1f; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3; }},
      {"frequency_penalty", [&](SamplingParams& p) { p.frequency_penalty = nan; }},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }},
      {"logit_bias", [](SamplingParams& p) { p.logit_bias = {{3, kInf}}; }},
      {"n_logprobs", [](SamplingParams& p) { p.n_logprobs = -1; }},
  };
  EXPECT_NO_THROW(SamplingParams().validate());
  for (const auto& [field, spoil] : cases) {
    SamplingParams params;
    spoil(params);
    try {
      Sampler sampler(params);
      ADD_FAILURE() << "no error for " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  }
}

TEST(SamplerInput, BadLogitsAndTokensAreErrors) {
  SamplingParams params = seeded(16);
  params.repetition_penalty = 1.1f;
  Sampler sampler(params);
  const std::vector<float> logits = {0.0f, 1.0f};
  const std::vector<int32_t> outside = {2};
  EXPECT_THROW(sampler.sample(std::vector<float>{}, {}, {}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, std::nanf("")}, {}, {}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{-kInf, -kInf}, {}, {}), Error);
  EXPECT_THROW(sampler.sample(logits, outside, {}), Error);
  EXPECT_THROW(sampler.sample(logits, {}, outside), Error);
  // The sampler stays usable after an error.
  const std::vector<int32_t> prompt = {1};
  EXPECT_NO_THROW(sampler.sample(logits, prompt, {}));

  params.logit_bias = {{5, 1.0f}};
  Sampler bias_outside(params);
  EXPECT_THROW(bias_outside.sample(logits, {}, {}), Error);

  params.logit_bias = {{0, 3e38f}};
  Sampler overflow(params);
  EXPECT_THROW(overflow.sample(std::vector<float>{3e38f, 0.0f}, {}, {}), Error);
}

}  // namespace
}  // namespace dseek
