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
  QuantPlan plan("Q4_K", {}, 27);
  EXPECT_EQ(plan.choose("blk.0.attn_norm.weight", {2048}), DType::F32);
  EXPECT_EQ(plan.choose("blk.1.ffn_gate_inp.weight", {64, 2048}), DType::F32);
  EXPECT_EQ(plan.choose("blk.1.ffn_up_exps.weight", {64, 1408, 2048}), DType::Q4_K);
  EXPECT_EQ(plan.choose("blk.0.attn_output.weight", {2048, 160}), DType::Q5_0);  // 160 = 5 blocks of 32
  EXPECT_EQ(plan.choose("blk.0.attn_k_b.weight", {16, 512, 16}), DType::F16);    // not even a Q5_0 block
  EXPECT_EQ(QuantPlan("Q6_K", {}, 27).choose("x.weight", {8, 64}), DType::Q8_0);
  EXPECT_EQ(QuantPlan("Q3_K", {}, 27).choose("x.weight", {8, 64}), DType::IQ4_NL);
  EXPECT_EQ(QuantPlan("q8_0", {}, 27).choose("x.weight", {8, 64}), DType::Q8_0);
}

TEST(QuantPlan, OverridesFirstMatchWin) {
  QuantPlan plan("Q4_K_M", {"ffn_down_exps=Q8_0", "ffn_.*=Q5_K", "ffn_down=Q2_K"}, 27);
  EXPECT_EQ(plan.choose("blk.1.ffn_down_exps.weight", {4, 256, 256}), DType::Q8_0);
  EXPECT_EQ(plan.choose("blk.1.ffn_down_shexp.weight", {256, 256}), DType::Q5_K);
  EXPECT_EQ(plan.choose("blk.1.attn_q.weight", {256, 256}), DType::Q4_K);
}

// llama.cpp's mixes for 27 layers: "more bits" layers are 0-2, 23-26 and 5, 8, ..., 20.
TEST(QuantPlan, KQuantMixesFollowLlamaCpp) {
  QuantPlan q4("Q4_K_M", {}, 27);
  EXPECT_EQ(q4.choose("output.weight", {1024, 256}), DType::Q6_K);
  for (int layer : {0, 2, 5, 20, 23, 26}) {
    SCOPED_TRACE(layer);
    std::string blk = "blk." + std::to_string(layer) + ".";
    EXPECT_EQ(q4.choose(blk + "ffn_down_exps.weight", {64, 2048, 1408}), DType::Q8_0);  // Q6_K, not whole blocks
    EXPECT_EQ(q4.choose(blk + "ffn_down_shexp.weight", {2048, 2816}), DType::Q6_K);
    EXPECT_EQ(q4.choose(blk + "attn_kv_b.weight", {4096, 512}), DType::Q6_K);
  }
  for (int layer : {3, 4, 6, 22}) {
    SCOPED_TRACE(layer);
    std::string blk = "blk." + std::to_string(layer) + ".";
    EXPECT_EQ(q4.choose(blk + "ffn_down_exps.weight", {64, 2048, 1408}), DType::Q5_0);  // Q4_K's substitute
    EXPECT_EQ(q4.choose(blk + "ffn_down_shexp.weight", {2048, 2816}), DType::Q4_K);
    EXPECT_EQ(q4.choose(blk + "attn_kv_b.weight", {4096, 512}), DType::Q4_K);
  }
  EXPECT_EQ(q4.choose("blk.0.attn_v_b.weight", {16, 128, 512}), DType::Q4_K);
  EXPECT_EQ(QuantPlan("Q5_K_M", {}, 27).choose("blk.4.ffn_up_exps.weight", {64, 1408, 2048}), DType::Q5_K);
  QuantPlan q3("Q3_K_M", {}, 27);
  EXPECT_EQ(q3.choose("blk.0.ffn_down.weight", {2048, 2816}), DType::Q5_K);
  EXPECT_EQ(q3.choose("blk.1.attn_kv_b.weight", {4096, 512}), DType::Q5_K);
  EXPECT_EQ(q3.choose("blk.2.attn_kv_b.weight", {4096, 512}), DType::Q4_K);
  EXPECT_EQ(q3.choose("blk.9.ffn_down_shexp.weight", {2048, 2816}), DType::Q4_K);
  EXPECT_EQ(q3.choose("blk.9.attn_output.weight", {2048, 2048}), DType::Q4_K);
  EXPECT_EQ(q3.choose("blk.9.attn_q.weight", {3072, 2048}), DType::Q3_K);
}

TEST(QuantPlan, ErrorsNameTheOption) {
  EXPECT_NE(error_of([] { QuantPlan("Q9_X", {}, 27); }).find("--type"), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q9_X", {}, 27, "--dtype"); }).find("--dtype: unknown type \"Q9_X\""), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q4_K", {"ffn_(=Q8_0"}, 27); }).find("--tensor-type"), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q4_K", {"ffn=Q7"}, 27); }).find("--tensor-type"), std::string::npos);
  EXPECT_NE(error_of([] { QuantPlan("Q4_K", {"no-type"}, 27); }).find("--tensor-type"), std::string::npos);
}

}  // namespace
}  // namespace dseek
