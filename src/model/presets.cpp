#include "model/presets.h"

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dseek {
namespace {

struct Preset {
  const char* name;
  const char* config_json;  // config.json fields as the hub ships them
};

// DeepSeek-V2-Lite(-Chat).
constexpr const char* kV2Lite = R"({
  "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944,
  "moe_intermediate_size": 1408, "num_hidden_layers": 27, "first_k_dense_replace": 1, "moe_layer_freq": 1,
  "num_attention_heads": 16, "num_key_value_heads": 16, "q_lora_rank": null, "kv_lora_rank": 512,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64,
  "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 1, "topk_group": 1, "topk_method": "greedy",
  "scoring_func": "softmax", "norm_topk_prob": false, "routed_scaling_factor": 1.0, "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
  "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "bos_token_id": 100000, "eos_token_id": 100001})";

// DeepSeek-V2, V2-Chat and V2.5 share this shape.
constexpr const char* kV2 = R"({
  "model_type": "deepseek_v2", "vocab_size": 102400, "hidden_size": 5120, "intermediate_size": 12288,
  "moe_intermediate_size": 1536, "num_hidden_layers": 60, "first_k_dense_replace": 1, "moe_layer_freq": 1,
  "num_attention_heads": 128, "num_key_value_heads": 128, "q_lora_rank": 1536, "kv_lora_rank": 512,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 160,
  "n_shared_experts": 2, "num_experts_per_tok": 6, "n_group": 8, "topk_group": 3,
  "topk_method": "group_limited_greedy", "scoring_func": "softmax", "norm_topk_prob": false,
  "routed_scaling_factor": 16.0, "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
  "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "bos_token_id": 100000, "eos_token_id": 100001})";

// DeepSeek-V3, R1 and V3.1 share this shape (FP8 weights, one MTP layer).
constexpr const char* kV3 = R"({
  "model_type": "deepseek_v3", "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
  "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_nextn_predict_layers": 1,
  "first_k_dense_replace": 3, "moe_layer_freq": 1, "num_attention_heads": 128, "num_key_value_heads": 128,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128, "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8,
  "topk_group": 4, "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true,
  "routed_scaling_factor": 2.5, "rope_theta": 10000,
  "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "bos_token_id": 0, "eos_token_id": 1,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]}})";

constexpr Preset kPresets[] = {
    {"deepseek-v2-lite", kV2Lite}, {"deepseek-v2", kV2},   {"deepseek-v2.5", kV2},
    {"deepseek-v3", kV3},          {"deepseek-r1", kV3},   {"deepseek-v3.1", kV3},
};

}  // namespace

ModelConfig preset_config(std::string_view name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return parse_model_config(nlohmann::json::parse(p.config_json), "preset " + std::string(name));
  std::string known;
  for (const Preset& p : kPresets) known += (known.empty() ? "" : ", ") + std::string(p.name);
  fail("unknown preset \"{}\" (known: {})", name, known);
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

}  // namespace dseek
