// Which type each GGUF tensor gets: presets, fallbacks for rows that are not whole blocks,
// overrides, and errors that name the option.
#include "model/quant_plan.h"

#include <gtest/gtest.h>

#include <functional>

#include "util/error.h"

namespace dseek {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(QuantPlan, PlanKeepsSmallTensorsInF32AndFallsBack) {
  QuantPlan plan("Q4_K", {});
  EXPECT_EQ(plan.choose("blk.0.attn_norm.weight", {2048}), DType::F32);
  EXPECT_EQ(plan.choose("blk.1.ffn_gate_inp.weight", {64, 2048}), DType::F32);
  EXPECT_EQ(plan.choose("blk.1.ffn_up_exps.weight", {64, 1408, 2048}), DType::Q4_K);
  EXPECT_EQ(plan.choose("blk.0.attn_output.weight", {2048, 160}), DType::Q5_0);  // 160 = 5 blocks of 32
  EXPECT_EQ(plan.choose("blk.0.attn_k_b.weight", {16, 512, 16}), DType::F16);    // not even a Q5_0 block
  EXPECT_EQ(QuantPlan("Q6_K", {}).choose("x.weight", {8, 64}), DType::Q8_0);
  EXPECT_EQ(QuantPlan("Q3_K", {}).choose("x.weight", {8, 64}), DType::IQ4_NL);
  EXPECT_EQ(QuantPlan("q8_0", {}).choose("x.weight", {8, 64}), DType::Q8_0);
}

TEST(QuantPlan, OverridesFirstMatchWinsAndPresetsBump) {
  QuantPlan plan("Q4_K_M", {"ffn_down_exps=Q8_0", "ffn_.*=Q5_K", "ffn_down=Q2_K"});
  EXPECT_EQ(plan.choose("blk.1.ffn_down_exps.weight", {4, 256, 256}), DType::Q8_0);
  EXPECT_EQ(plan.choose("blk.1.ffn_down_shexp.weight", {256, 256}), DType::Q5_K);
  EXPECT_EQ(plan.choose("blk.1.attn_v_b.weight", {16, 128, 512}), DType::Q6_K);
  EXPECT_EQ(plan.choose("output.weight", {1024, 256}), DType::Q6_K);
  EXPECT_EQ(plan.choose("blk.1.attn_q.weight", {256, 256}), DType::Q4_K);
}

TEST(QuantPlan, ErrorsNameTheOption) {
  EXPECT_NE(error_of([] { QuantPlan("Q9_X", {}); }).find("--type"), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q9_X", {}, "--dtype"); }).find("--dtype: unknown type \"Q9_X\""), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q4_K", {"ffn_(=Q8_0"}); }).find("--tensor-type"), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q4_K", {"ffn=Q7"}); }).find("--tensor-type"), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q4_K", {"no-type"}); }).find("--tensor-type"), std::string::npos);
}

}  // namespace
}  // namespace dseek
