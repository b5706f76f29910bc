// The architecture hyper-parameters of a DeepSeek-V2/V3 model, as config.json gives them,
// with the defaults of Hugging Face's DeepseekV2Config / DeepseekV3Config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace dseek {

enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };
enum class ScoringFunc { Softmax, Sigmoid };
enum class RopeScaling { None, Linear, Yarn };

struct ModelConfig {
  std::string model_type = "deepseek_v2";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense MLP layers
  int64_t moe_intermediate_size = 0;  // one routed expert
  int num_hidden_layers = 0;
  int num_nextn_predict_layers = 0;  // multi-token-prediction layers after the main ones
  int first_k_dense_replace = 0;
  int moe_layer_freq = 1;
  int num_attention_heads = 0;
  int64_t q_lora_rank = 0;  // 0: queries projected directly, without the low-rank path
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int n_routed_experts = 0;  // 0: every layer is dense
  int n_shared_experts = 0;
  int num_experts_per_tok = 0;
  int n_group = 1;
  int topk_group = 1;
  TopkMethod topk_method = TopkMethod::Greedy;
  ScoringFunc scoring_func = ScoringFunc::Softmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling = RopeScaling::None;
  double rope_factor = 1.0;
  int64_t rope_original_max_position_embeddings = 4096;
  double rope_beta_fast = 32.0;
  double rope_beta_slow = 1.0;
  double rope_mscale = 1.0;
  double rope_mscale_all_dim = 0.0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  // FP8 checkpoints: weights in blocks of [rows, cols] sharing one scale.
  bool fp8_weights = false;
  int64_t weight_block_rows = 128;
  int64_t weight_block_cols = 128;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  // Parameters of the main model (MTP layers excluded, as DeepSeek counts them); with
  // active_only, a token's share: num_experts_per_tok routed experts per MoE layer.
  int64_t parameter_count(bool active_only) const;
  // 1/sqrt(qk_head_dim), times YaRN's attention temperature mscale² when YaRN is on.
  double softmax_scale() const;

  // Checks dimensions are positive and consistent; `where` names the source in errors.
  void validate(const std::string& where) const;
};

// Parses a config.json object; errors name `path` and the field.
ModelConfig parse_model_config(const nlohmann::json& json, const std::string& path);
ModelConfig load_model_config(const std::string& model_dir);

}  // namespace dseek
