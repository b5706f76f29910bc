#include "model/config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/presets.h"
#include "util/error.h"

namespace dseek {
namespace {

nlohmann::json v2_lite() {
  return nlohmann::json::parse(R"({"model_type": "deepseek_v2", "vocab_size": 1024, "hidden_size": 64,
    "intermediate_size": 128, "moe_intermediate_size": 32, "num_hidden_layers": 3, "first_k_dense_replace": 1,
    "num_attention_heads": 4, "q_lora_rank": null, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8, "v_head_dim": 16, "n_routed_experts": 8, "n_shared_experts": 2,
    "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1, "topk_method": "greedy",
    "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
                     "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707}})");
}

std::string error_of(const nlohmann::json& json) {
  try {
    parse_model_config(json, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, FixtureConfigsParse) {
  ModelConfig lite = load_model_config(std::string(DSEEK_FIXTURES) + "/models/v2-lite-tiny");
  EXPECT_EQ(lite.q_lora_rank, 0);
  EXPECT_EQ(lite.topk_method, TopkMethod::Greedy);
  EXPECT_EQ(lite.rope_scaling, RopeScaling::Yarn);
  EXPECT_DOUBLE_EQ(lite.rope_mscale_all_dim, 0.707);
  ModelConfig v3 = load_model_config(std::string(DSEEK_FIXTURES) + "/models/v3-tiny-fp8");
  EXPECT_EQ(v3.topk_method, TopkMethod::NoauxTc);
  EXPECT_EQ(v3.scoring_func, ScoringFunc::Sigmoid);
  EXPECT_TRUE(v3.fp8_weights);
  EXPECT_EQ(v3.num_nextn_predict_layers, 1);
  EXPECT_TRUE(v3.norm_topk_prob);
  EXPECT_DOUBLE_EQ(v3.routed_scaling_factor, 2.5);
}

TEST(ModelConfig, MissingFieldsTakeTheHubDefaults) {
  ModelConfig v3 = parse_model_config(nlohmann::json{{"model_type", "deepseek_v3"}}, "config.json");
  EXPECT_EQ(v3.hidden_size, 7168);
  EXPECT_EQ(v3.n_routed_experts, 256);
  EXPECT_EQ(v3.topk_method, TopkMethod::NoauxTc);
  EXPECT_EQ(v3.first_k_dense_replace, 3);
  EXPECT_EQ(v3.eos_token_ids, std::vector<int64_t>{1});
  ModelConfig v2 = parse_model_config(nlohmann::json{{"model_type", "deepseek_v2"}}, "config.json");
  EXPECT_EQ(v2.n_routed_experts, 0);  // DeepseekV2Config: a dense model unless experts are given
  EXPECT_EQ(v2.q_lora_rank, 1536);
  EXPECT_EQ(v2.eos_token_ids, std::vector<int64_t>{100001});
}

TEST(ModelConfig, UnknownValuesAreErrorsNamingTheField) {
  struct Case {
    const char* field;
    nlohmann::json value;
    const char* expect;
  };
  for (const Case& c : {Case{"topk_method", "best", "unknown topk_method \"best\""},
                        Case{"scoring_func", "relu", "unknown scoring_func \"relu\""},
                        Case{"hidden_act", "gelu", "unknown hidden_act \"gelu\""},
                        Case{"model_type", "llama", "unknown model_type \"llama\""},
                        Case{"rope_scaling", {{"type", "ntk"}, {"factor", 2}}, "unknown rope_scaling type \"ntk\""},
                        Case{"hidden_size", "big", "field \"hidden_size\""},
                        Case{"eos_token_id", "x", "eos_token_id"},
                        Case{"n_group", 3, "n_group (3) must divide n_routed_experts (8)"},
                        Case{"num_experts_per_tok", 9, "num_experts_per_tok must be in [1, n_routed_experts=8]"},
                        Case{"qk_rope_head_dim", 7, "qk_rope_head_dim must be positive and even"}}) {
    nlohmann::json json = v2_lite();
    json[c.field] = c.value;
    std::string message = error_of(json);
    EXPECT_NE(message.find(c.expect), std::string::npos) << c.field << ": " << message;
    EXPECT_NE(message.find("config.json"), std::string::npos) << message;
  }
}

TEST(ModelConfig, QuantizationConfigIsChecked) {
  nlohmann::json json = v2_lite();
  json["quantization_config"] = {{"quant_method", "gptq"}};
  EXPECT_NE(error_of(json).find("quant_method \"gptq\""), std::string::npos);
  json["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128}}};
  EXPECT_NE(error_of(json).find("weight_block_size"), std::string::npos);
}

TEST(ModelConfig, YarnSoftmaxScaleUsesMscaleAllDim) {
  ModelConfig c = parse_model_config(v2_lite(), "config.json");
  double mscale = 0.1 * 0.707 * std::log(40.0) + 1.0;
  EXPECT_NEAR(c.softmax_scale(), mscale * mscale / std::sqrt(24.0), 1e-12);
}

TEST(Presets, ParameterCountsMatchDeepSeeksPublishedSizes) {
  // Published: V2-Lite 15.7B total / 2.4B active, V2 236B / 21B, V3 671B / 37B
  // (active counts exclude the embedding, as the papers count them).
  struct Case {
    const char* name;
    double total, active;
  };
  for (const Case& c : {Case{"deepseek-v2-lite", 15.7, 2.4}, Case{"deepseek-v2", 236, 21}, Case{"deepseek-v3", 671, 37}}) {
    ModelConfig config = preset_config(c.name);
    double embedding = static_cast<double>(config.vocab_size * config.hidden_size);
    EXPECT_NEAR(config.parameter_count(false) / 1e9, c.total, c.total * 0.005) << c.name;
    EXPECT_NEAR((config.parameter_count(true) - embedding) / 1e9, c.active, c.active * 0.03) << c.name;
  }
  EXPECT_THROW(preset_config("deepseek-v9"), Error);
}

}  // namespace
}  // namespace dseek
