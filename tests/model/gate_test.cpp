// DeepSeekMoE's routing rules on hand-made scores.
#include <cmath>

#include <gtest/gtest.h>

#include "model/deepseek.h"

namespace dseek {
namespace {

ModelConfig router(int experts, int groups, int topk_groups, int k) {
  ModelConfig c;
  c.n_routed_experts = experts;
  c.n_group = groups;
  c.topk_group = topk_groups;
  c.num_experts_per_tok = k;
  return c;
}

TEST(Gate, SoftmaxGreedyWeightsAreSoftmaxProbabilities) {
  ModelConfig c = router(4, 1, 1, 2);
  float logits[] = {0.0f, 2.0f, 1.0f, -1.0f};
  Route r = gate(c, logits, {});
  ASSERT_EQ(r.experts, (std::vector<int>{1, 2}));
  double z = std::exp(0.0) + std::exp(2.0) + std::exp(1.0) + std::exp(-1.0);
  EXPECT_NEAR(r.weights[0], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(r.weights[1], std::exp(1.0) / z, 1e-6);
}

TEST(Gate, GroupLimitedGreedyOnlyPicksFromTheBestGroups) {
  ModelConfig c = router(8, 4, 2, 2);
  c.topk_method = TopkMethod::GroupLimitedGreedy;
  c.routed_scaling_factor = 16.0;
  // Group maxima: g0 = 5, g1 = 4, g2 = 4.5, g3 = 1. Groups 0 and 2 win, so expert 2 (in g1),
  // the second-highest score overall, is excluded.
  float logits[] = {5.0f, 0.0f, 4.0f, 3.9f, 4.5f, 0.0f, 1.0f, 0.0f};
  Route r = gate(c, logits, {});
  EXPECT_EQ(r.experts, (std::vector<int>{0, 4}));
  double z = 0;
  for (float l : logits) z += std::exp(l);
  EXPECT_NEAR(r.weights[0], 16.0 * std::exp(5.0) / z, 1e-4);
}

TEST(Gate, NoauxTcBiasChoosesButDoesNotWeigh) {
  ModelConfig c = router(8, 4, 2, 2);
  c.topk_method = TopkMethod::NoauxTc;
  c.scoring_func = ScoringFunc::Sigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  float logits[] = {2.0f, 2.0f, 0.0f, 0.0f, 1.0f, 0.5f, -1.0f, -1.0f};
  // Biased group scores (sum of top two): g0 1.76, g1 1.0, g2 1.35, g3 0.27 + 1.77 = 2.04, so
  // groups 3 and 0 are kept; expert 7 leads on its biased score, then expert 0 (tied with 1).
  // Expert 4 (unbiased 0.73, above expert 7's 0.27) is out with its group.
  std::vector<float> bias = {0, 0, 0, 0, 0, 0, 0, 1.5f};
  Route r = gate(c, logits, bias);
  EXPECT_EQ(r.experts, (std::vector<int>{7, 0}));
  auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  double sum = sigmoid(2.0) + sigmoid(-1.0);
  EXPECT_NEAR(r.weights[0], 2.5 * sigmoid(-1.0) / sum, 1e-6);
  EXPECT_NEAR(r.weights[1], 2.5 * sigmoid(2.0) / sum, 1e-6);
}

TEST(Gate, TiesGoToTheLowerExpert) {
  ModelConfig c = router(4, 1, 1, 1);
  float logits[] = {1.0f, 3.0f, 3.0f, 0.0f};
  EXPECT_EQ(gate(c, logits, {}).experts, std::vector<int>{1});
}

}  // namespace
}  // namespace dseek
