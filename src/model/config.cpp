#include "model/config.h"

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dseek {
namespace {

// Reads `field` when present and not null; errors name the file and the field.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& json, const std::string& path) : json_(json), path_(path) {}

  template <typename T>
  void read(const char* field, T& out) const {
    auto it = json_.find(field);
    if (it == json_.end() || it->is_null()) return;
    try {
      if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) throw std::runtime_error("not a boolean");
      } else if constexpr (std::is_integral_v<T>) {
        if (!it->is_number_integer()) throw std::runtime_error("not an integer");
      } else if constexpr (std::is_floating_point_v<T>) {
        if (!it->is_number()) throw std::runtime_error("not a number");
      }
      out = it->get<T>();
    } catch (const std::exception& e) {
      fail("{}: field \"{}\" has value {}: {}", path_, field, it->dump(), e.what());
    }
  }

  bool has(const char* field) const { return json_.contains(field) && !json_.at(field).is_null(); }
  const nlohmann::json& at(const char* field) const { return json_.at(field); }

 private:
  const nlohmann::json& json_;
  const std::string& path_;
};

template <typename Enum, size_t N>
Enum parse_enum(const FieldReader& fields, const char* field, Enum fallback,
                const std::pair<const char*, Enum> (&names)[N], const std::string& path) {
  std::string value;
  fields.read(field, value);
  if (value.empty()) return fallback;
  for (const auto& [name, e] : names)
    if (value == name) return e;
  std::string known;
  for (const auto& [name, e] : names) known += (known.empty() ? "" : ", ") + std::string(name);
  fail("{}: unknown {} \"{}\" (supported: {})", path, field, value, known);
}

void parse_rope_scaling(const nlohmann::json& scaling, const std::string& path, ModelConfig& c) {
  if (!scaling.is_object()) fail("{}: rope_scaling must be an object or null, got {}", path, scaling.dump());
  std::string type;
  for (const char* key : {"type", "rope_type"})
    if (scaling.contains(key) && scaling[key].is_string()) type = scaling[key].get<std::string>();
  std::string where = path + " rope_scaling";
  FieldReader fields(scaling, where);
  if (type == "yarn") {
    c.rope_scaling = RopeScaling::Yarn;
    c.rope_mscale = 1.0;
    c.rope_mscale_all_dim = 0.0;
    fields.read("original_max_position_embeddings", c.rope_original_max_position_embeddings);
    fields.read("beta_fast", c.rope_beta_fast);
    fields.read("beta_slow", c.rope_beta_slow);
    fields.read("mscale", c.rope_mscale);
    fields.read("mscale_all_dim", c.rope_mscale_all_dim);
  } else if (type == "linear") {
    c.rope_scaling = RopeScaling::Linear;
  } else {
    fail("{}: unknown rope_scaling type \"{}\" (supported: yarn, linear)", path, type);
  }
  if (!scaling.contains("factor")) fail("{}: rope_scaling has no \"factor\"", path);
  fields.read("factor", c.rope_factor);
  if (!(c.rope_factor > 0)) fail("{}: rope_scaling factor must be positive, got {}", path, c.rope_factor);
}

void parse_quantization(const nlohmann::json& q, const std::string& path, ModelConfig& c) {
  if (!q.is_object()) fail("{}: quantization_config must be an object", path);
  std::string method = q.value("quant_method", "");
  if (method != "fp8") fail("{}: unknown quantization_config.quant_method \"{}\" (supported: fp8)", path, method);
  std::string fmt_name = q.value("fmt", "e4m3");
  if (fmt_name != "e4m3") fail("{}: unknown quantization_config.fmt \"{}\" (supported: e4m3)", path, fmt_name);
  c.fp8_weights = true;
  if (q.contains("weight_block_size")) {
    const auto& block = q["weight_block_size"];
    if (!block.is_array() || block.size() != 2 || !block[0].is_number_integer() || !block[1].is_number_integer() ||
        block[0].get<int64_t>() <= 0 || block[1].get<int64_t>() <= 0)
      fail("{}: quantization_config.weight_block_size must be two positive integers, got {}", path, block.dump());
    c.weight_block_rows = block[0].get<int64_t>();
    c.weight_block_cols = block[1].get<int64_t>();
  }
}

}  // namespace

double ModelConfig::softmax_scale() const {
  double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  if (rope_scaling == RopeScaling::Yarn && rope_mscale_all_dim != 0 && rope_factor > 1) {
    double mscale = 0.1 * rope_mscale_all_dim * std::log(rope_factor) + 1.0;
    scale *= mscale * mscale;
  }
  return scale;
}

int64_t ModelConfig::parameter_count(bool active_only) const {
  const int64_t d = hidden_size, heads = num_attention_heads;
  int64_t query = q_lora_rank > 0 ? d * q_lora_rank + q_lora_rank + q_lora_rank * heads * qk_head_dim()
                                  : d * heads * qk_head_dim();
  int64_t attention = query + d * (kv_lora_rank + qk_rope_head_dim) + kv_lora_rank +
                      kv_lora_rank * heads * (qk_nope_head_dim + v_head_dim) + heads * v_head_dim * d;
  int64_t expert = 3 * d * moe_intermediate_size;
  int64_t total = vocab_size * d * (tie_word_embeddings ? 1 : 2) + d;
  for (int layer = 0; layer < num_hidden_layers; ++layer) {
    total += attention + 2 * d;
    if (!is_moe_layer(layer)) {
      total += 3 * d * intermediate_size;
      continue;
    }
    total += n_routed_experts * d + expert * n_shared_experts;
    total += expert * (active_only ? num_experts_per_tok : n_routed_experts);
    if (topk_method == TopkMethod::NoauxTc) total += n_routed_experts;
  }
  return total;
}

void ModelConfig::validate(const std::string& where) const {
  auto positive = [&](const char* field, int64_t value) {
    if (value <= 0) fail("{}: {} must be positive, got {}", where, field, value);
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("kv_lora_rank", kv_lora_rank);
  positive("qk_nope_head_dim", qk_nope_head_dim);
  positive("v_head_dim", v_head_dim);
  positive("max_position_embeddings", max_position_embeddings);
  if (qk_rope_head_dim <= 0 || qk_rope_head_dim % 2 != 0)
    fail("{}: qk_rope_head_dim must be positive and even, got {}", where, qk_rope_head_dim);
  if (q_lora_rank < 0) fail("{}: q_lora_rank must be positive or null, got {}", where, q_lora_rank);
  if (first_k_dense_replace > 0 || n_routed_experts == 0) positive("intermediate_size", intermediate_size);
  if (moe_layer_freq <= 0) fail("{}: moe_layer_freq must be positive, got {}", where, moe_layer_freq);
  if (n_routed_experts < 0) fail("{}: n_routed_experts must not be negative, got {}", where, n_routed_experts);
  if (n_routed_experts > 0) {
    positive("moe_intermediate_size", moe_intermediate_size);
    if (num_experts_per_tok <= 0 || num_experts_per_tok > n_routed_experts)
      fail("{}: num_experts_per_tok must be in [1, n_routed_experts={}], got {}", where, n_routed_experts,
           num_experts_per_tok);
    if (n_group <= 0 || n_routed_experts % n_group != 0)
      fail("{}: n_group ({}) must divide n_routed_experts ({})", where, n_group, n_routed_experts);
    if (topk_group <= 0 || topk_group > n_group)
      fail("{}: topk_group must be in [1, n_group={}], got {}", where, n_group, topk_group);
    if (topk_group * (n_routed_experts / n_group) < num_experts_per_tok)
      fail("{}: topk_group={} groups of {} experts cannot supply num_experts_per_tok={}", where, topk_group,
           n_routed_experts / n_group, num_experts_per_tok);
    if (topk_method == TopkMethod::NoauxTc && n_routed_experts / n_group < 2)
      fail("{}: noaux_tc scores groups by their top two experts; groups of {} are too small", where,
           n_routed_experts / n_group);
  }
  if (n_shared_experts < 0) fail("{}: n_shared_experts must not be negative, got {}", where, n_shared_experts);
  if (!(rms_norm_eps > 0)) fail("{}: rms_norm_eps must be positive, got {}", where, rms_norm_eps);
}

ModelConfig parse_model_config(const nlohmann::json& json, const std::string& path) {
  if (!json.is_object()) fail("{}: config must be a JSON object", path);
  ModelConfig c;
  FieldReader fields(json, path);
  fields.read("model_type", c.model_type);
  if (c.model_type == "deepseek_v3") {
    // DeepseekV3Config's defaults (DeepSeek-V3's own shape).
    c.vocab_size = 129280;
    c.hidden_size = 7168;
    c.intermediate_size = 18432;
    c.moe_intermediate_size = 2048;
    c.num_hidden_layers = 61;
    c.num_nextn_predict_layers = 1;
    c.num_attention_heads = 128;
    c.n_shared_experts = 1;
    c.n_routed_experts = 256;
    c.routed_scaling_factor = 2.5;
    c.q_lora_rank = 1536;
    c.kv_lora_rank = 512;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.qk_nope_head_dim = 128;
    c.topk_method = TopkMethod::NoauxTc;
    c.n_group = 8;
    c.topk_group = 4;
    c.num_experts_per_tok = 8;
    c.first_k_dense_replace = 3;
    c.norm_topk_prob = true;
    c.scoring_func = ScoringFunc::Sigmoid;
    c.max_position_embeddings = 4096;
    c.bos_token_id = 0;
    c.eos_token_ids = {1};
  } else if (c.model_type == "deepseek_v2") {
    // DeepseekV2Config's defaults; its expert counts default to None (a dense model).
    c.vocab_size = 102400;
    c.hidden_size = 4096;
    c.intermediate_size = 11008;
    c.moe_intermediate_size = 1407;
    c.num_hidden_layers = 30;
    c.num_attention_heads = 32;
    c.q_lora_rank = 1536;
    c.kv_lora_rank = 512;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.qk_nope_head_dim = 128;
    c.bos_token_id = 100000;
    c.eos_token_ids = {100001};
  } else {
    fail("{}: unknown model_type \"{}\" (supported: deepseek_v2, deepseek_v3)", path, c.model_type);
  }
  fields.read("vocab_size", c.vocab_size);
  fields.read("hidden_size", c.hidden_size);
  fields.read("intermediate_size", c.intermediate_size);
  fields.read("moe_intermediate_size", c.moe_intermediate_size);
  fields.read("num_hidden_layers", c.num_hidden_layers);
  fields.read("num_nextn_predict_layers", c.num_nextn_predict_layers);
  fields.read("first_k_dense_replace", c.first_k_dense_replace);
  fields.read("moe_layer_freq", c.moe_layer_freq);
  fields.read("num_attention_heads", c.num_attention_heads);
  if (json.contains("q_lora_rank") && json["q_lora_rank"].is_null()) c.q_lora_rank = 0;
  fields.read("q_lora_rank", c.q_lora_rank);
  fields.read("kv_lora_rank", c.kv_lora_rank);
  fields.read("qk_nope_head_dim", c.qk_nope_head_dim);
  fields.read("qk_rope_head_dim", c.qk_rope_head_dim);
  fields.read("v_head_dim", c.v_head_dim);
  fields.read("n_routed_experts", c.n_routed_experts);
  fields.read("n_shared_experts", c.n_shared_experts);
  fields.read("num_experts_per_tok", c.num_experts_per_tok);
  fields.read("n_group", c.n_group);
  fields.read("topk_group", c.topk_group);
  fields.read("norm_topk_prob", c.norm_topk_prob);
  fields.read("routed_scaling_factor", c.routed_scaling_factor);
  fields.read("rope_theta", c.rope_theta);
  fields.read("max_position_embeddings", c.max_position_embeddings);
  fields.read("rms_norm_eps", c.rms_norm_eps);
  fields.read("tie_word_embeddings", c.tie_word_embeddings);
  static const std::pair<const char*, TopkMethod> kTopk[] = {
      {"greedy", TopkMethod::Greedy}, {"group_limited_greedy", TopkMethod::GroupLimitedGreedy},
      {"noaux_tc", TopkMethod::NoauxTc}};
  c.topk_method = parse_enum(fields, "topk_method", c.topk_method, kTopk, path);
  static const std::pair<const char*, ScoringFunc> kScoring[] = {{"softmax", ScoringFunc::Softmax},
                                                                 {"sigmoid", ScoringFunc::Sigmoid}};
  c.scoring_func = parse_enum(fields, "scoring_func", c.scoring_func, kScoring, path);
  std::string hidden_act = "silu";
  fields.read("hidden_act", hidden_act);
  if (hidden_act != "silu") fail("{}: unknown hidden_act \"{}\" (supported: silu)", path, hidden_act);
  bool attention_bias = false;
  fields.read("attention_bias", attention_bias);
  if (attention_bias) fail("{}: attention_bias true is not supported (no DeepSeek release uses it)", path);
  if (fields.has("rope_scaling")) parse_rope_scaling(fields.at("rope_scaling"), path, c);
  if (fields.has("quantization_config")) parse_quantization(fields.at("quantization_config"), path, c);
  if (fields.has("bos_token_id")) {
    int64_t bos = 0;
    fields.read("bos_token_id", bos);
    c.bos_token_id = bos;
  }
  if (fields.has("eos_token_id")) {
    const auto& eos = fields.at("eos_token_id");
    c.eos_token_ids.clear();
    if (eos.is_number_integer()) {
      c.eos_token_ids.push_back(eos.get<int64_t>());
    } else if (eos.is_array()) {
      for (const auto& id : eos) {
        if (!id.is_number_integer()) fail("{}: eos_token_id entries must be integers, got {}", path, id.dump());
        c.eos_token_ids.push_back(id.get<int64_t>());
      }
    } else {
      fail("{}: eos_token_id must be an integer or a list of integers, got {}", path, eos.dump());
    }
  }
  c.validate(path);
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  std::string path = model_dir + "/config.json";
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (is {} a model directory?)", path, model_dir);
  nlohmann::json json;
  try {
    in >> json;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  return parse_model_config(json, path);
}

}  // namespace dseek
