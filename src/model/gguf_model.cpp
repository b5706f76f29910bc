#include "model/gguf_model.h"

#include <cmath>
#include <cstring>

#include "kernels/convert.h"
#include "quant/formats.h"
#include "util/error.h"

namespace dseek {
namespace {

std::string arch_key(const char* name) { return std::string(kGgufArch) + "." + name; }

class Keys {
 public:
  explicit Keys(const GgufFile& file) : file_(file) {}

  const GgufValue* find(const char* name) const { return file_.find(arch_key(name)); }
  int64_t integer(const char* name) const {
    std::string key = arch_key(name);
    return file_.get(key).as_int(where(key));
  }
  int64_t integer(const char* name, int64_t fallback) const {
    std::string key = arch_key(name);
    const GgufValue* v = file_.find(key);
    return v ? v->as_int(where(key)) : fallback;
  }
  double real(const char* name) const {
    std::string key = arch_key(name);
    return file_.get(key).as_float(where(key));
  }
  double real(const char* name, double fallback) const {
    std::string key = arch_key(name);
    const GgufValue* v = file_.find(key);
    return v ? v->as_float(where(key)) : fallback;
  }
  std::string where(const std::string& key) const { return file_.path() + ": " + key; }

 private:
  const GgufFile& file_;
};

int to_int(int64_t v, const Keys& keys, const char* name) {
  if (v < 0 || v > (1 << 30)) fail("{}: value {} is out of range", keys.where(arch_key(name)), v);
  return static_cast<int>(v);
}

std::string blk(int layer, const char* name) { return "blk." + std::to_string(layer) + "." + name; }

class GgufBinder {
 public:
  GgufBinder(const ModelConfig& config, const TensorLookup& lookup, const std::string& source)
      : c_(config), lookup_(lookup), source_(source) {}

  const TensorView& tensor(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorView* found = lookup_(name, shape);
    if (!found) fail("{}: tensor '{}' is missing", source_, name);
    const TensorView& t = *found;
    if (t.shape != shape) {
      TensorView expected;
      expected.shape = shape;
      fail("{}: tensor {} has shape {}, expected {}", source_, name, t.shape_string(), expected.shape_string());
    }
    return t;
  }

  // A [rows, cols] matrix, or `count` stacked ones ([count, rows, cols]) of which `index` is taken.
  Weight matrix(const std::string& name, int64_t rows, int64_t cols, std::vector<int64_t> shape = {}) const {
    if (shape.empty()) shape = {rows, cols};
    const TensorView& t = tensor(name, shape);
    bool plain = t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16;
    if (!plain && (!is_quantized(t.dtype) || t.dtype == DType::Q8_K))
      fail("{}: tensor {} has type {}, which is not a weight format", source_, name, dtype_name(t.dtype));
    if (cols % static_cast<int64_t>(dtype_block_elems(t.dtype)) != 0)
      fail("{}: tensor {} has rows of {} values, not whole {} blocks", source_, name, cols, dtype_name(t.dtype));
    Weight w;
    w.dtype = t.dtype;
    w.rows = t.numel() / cols;
    w.cols = cols;
    w.data = t.data;
    w.row_stride = cols;
    return w;
  }

  std::vector<Weight> stacked(const std::string& name, int64_t count, int64_t rows, int64_t cols) const {
    Weight all = matrix(name, rows, cols, {count, rows, cols});
    std::vector<Weight> out;
    for (int64_t e = 0; e < count; ++e) {
      Weight w = all;
      w.rows = rows;
      w.data = static_cast<const unsigned char*>(all.data) + e * rows * row_bytes(all.dtype, cols);
      out.push_back(w);
    }
    return out;
  }

  std::vector<float> vector(const std::string& name, int64_t size) const {
    const TensorView& t = tensor(name, {size});
    std::vector<float> out(size);
    switch (t.dtype) {
      case DType::F32:
        std::memcpy(out.data(), t.data, size * sizeof(float));
        break;
      case DType::F16:
      case DType::BF16: {
        const uint16_t* p = static_cast<const uint16_t*>(t.data);
        for (int64_t i = 0; i < size; ++i) out[i] = t.dtype == DType::F16 ? f16_to_f32(p[i]) : bf16_to_f32(p[i]);
        break;
      }
      default:
        fail("{}: tensor {} has type {}, expected F32, F16 or BF16", source_, name, dtype_name(t.dtype));
    }
    return out;
  }

  MlpWeights mlp(int layer, const char* suffix, int64_t inner) const {
    int64_t d = c_.hidden_size;
    std::string s = suffix;
    return {matrix(blk(layer, ("ffn_gate" + s).c_str()) + ".weight", inner, d),
            matrix(blk(layer, ("ffn_up" + s).c_str()) + ".weight", inner, d),
            matrix(blk(layer, ("ffn_down" + s).c_str()) + ".weight", d, inner)};
  }

  LayerWeights layer(int l) const {
    int64_t d = c_.hidden_size, h = c_.num_attention_heads, rank = c_.kv_lora_rank;
    auto name = [&](const char* n) { return blk(l, n) + ".weight"; };
    LayerWeights w;
    w.attn_norm = vector(name("attn_norm"), d);
    w.ffn_norm = vector(name("ffn_norm"), d);
    AttentionWeights& a = w.attn;
    if (c_.q_lora_rank > 0) {
      a.q_a = matrix(name("attn_q_a"), c_.q_lora_rank, d);
      a.q_a_norm = vector(name("attn_q_a_norm"), c_.q_lora_rank);
      a.q_b = matrix(name("attn_q_b"), h * c_.qk_head_dim(), c_.q_lora_rank);
    } else {
      a.q = matrix(name("attn_q"), h * c_.qk_head_dim(), d);
    }
    a.kv_a = matrix(name("attn_kv_a_mqa"), rank + c_.qk_rope_head_dim, d);
    a.kv_a_norm = vector(name("attn_kv_a_norm"), rank);
    if (lookup_(name("attn_k_b"), {h, rank, c_.qk_nope_head_dim})) {
      a.k_b = matrix(name("attn_k_b"), h * rank, c_.qk_nope_head_dim, {h, rank, c_.qk_nope_head_dim});
      a.v_b = matrix(name("attn_v_b"), h * c_.v_head_dim, rank, {h, c_.v_head_dim, rank});
    } else {
      a.kv_b = matrix(name("attn_kv_b"), h * (c_.qk_nope_head_dim + c_.v_head_dim), rank);
    }
    a.o = matrix(name("attn_output"), d, h * c_.v_head_dim);
    if (!c_.is_moe_layer(l)) {
      w.mlp = mlp(l, "", c_.intermediate_size);
      return w;
    }
    MoeWeights m;
    m.router = matrix(name("ffn_gate_inp"), c_.n_routed_experts, d);
    if (c_.topk_method == TopkMethod::NoauxTc) m.score_bias = vector(blk(l, "exp_probs_b.bias"), c_.n_routed_experts);
    int64_t e = c_.n_routed_experts, inner = c_.moe_intermediate_size;
    std::vector<Weight> gate = stacked(name("ffn_gate_exps"), e, inner, d);
    std::vector<Weight> up = stacked(name("ffn_up_exps"), e, inner, d);
    std::vector<Weight> down = stacked(name("ffn_down_exps"), e, d, inner);
    for (int64_t i = 0; i < e; ++i) m.experts.push_back({gate[i], up[i], down[i]});
    if (c_.n_shared_experts > 0) m.shared = mlp(l, "_shexp", inner * c_.n_shared_experts);
    w.moe = std::move(m);
    return w;
  }

 private:
  const ModelConfig& c_;
  const TensorLookup& lookup_;
  const std::string& source_;
};

}  // namespace

ModelConfig gguf_model_config(const GgufFile& file) {
  const GgufValue& arch = file.get("general.architecture");
  if (arch.as_string(file.path() + ": general.architecture") != kGgufArch)
    fail("{}: general.architecture is \"{}\", expected \"{}\"", file.path(), arch.as_string("general.architecture"),
         kGgufArch);
  Keys k(file);
  ModelConfig c;
  const TensorView& embed = file.tensor("token_embd.weight");
  if (embed.shape.size() != 2) fail("{}: tensor token_embd.weight has shape {}, expected 2-D", file.path(), embed.shape_string());
  c.vocab_size = embed.shape[0];
  c.hidden_size = k.integer("embedding_length");
  c.intermediate_size = k.integer("feed_forward_length");
  int nextn = to_int(k.integer("nextn_predict_layers", 0), k, "nextn_predict_layers");
  c.num_hidden_layers = to_int(k.integer("block_count"), k, "block_count") - nextn;
  c.num_nextn_predict_layers = 0;  // MTP layers are not loaded from GGUF
  c.first_k_dense_replace = to_int(k.integer("leading_dense_block_count", 0), k, "leading_dense_block_count");
  c.num_attention_heads = to_int(k.integer("attention.head_count"), k, "attention.head_count");
  c.q_lora_rank = k.integer("attention.q_lora_rank", 0);
  c.kv_lora_rank = k.integer("attention.kv_lora_rank");
  c.qk_rope_head_dim = k.integer("rope.dimension_count");
  // MLA files give the attention-as-MQA lengths in key_length/value_length and the per-head
  // ones in the *_mla keys; older files give the per-head ones directly.
  if (k.find("attention.key_length_mla")) {
    c.qk_nope_head_dim = k.integer("attention.key_length_mla") - c.qk_rope_head_dim;
    c.v_head_dim = k.integer("attention.value_length_mla");
  } else {
    c.qk_nope_head_dim = k.integer("attention.key_length") - c.qk_rope_head_dim;
    c.v_head_dim = k.integer("attention.value_length");
  }
  c.n_routed_experts = to_int(k.integer("expert_count", 0), k, "expert_count");
  if (c.n_routed_experts > 0) {
    c.moe_intermediate_size = k.integer("expert_feed_forward_length");
    c.n_shared_experts = to_int(k.integer("expert_shared_count", 0), k, "expert_shared_count");
    c.num_experts_per_tok = to_int(k.integer("expert_used_count"), k, "expert_used_count");
    c.routed_scaling_factor = k.real("expert_weights_scale", 1.0);
    if (const GgufValue* v = k.find("expert_weights_norm")) c.norm_topk_prob = v->as_bool(k.where(arch_key("expert_weights_norm")));
    // V2 files predating the key use softmax.
    int64_t gating = k.integer("expert_gating_func", 1);
    if (gating == 1) c.scoring_func = ScoringFunc::Softmax;
    else if (gating == 2) c.scoring_func = ScoringFunc::Sigmoid;
    else fail("{}: unknown gating function {} (1 softmax, 2 sigmoid)", k.where(arch_key("expert_gating_func")), gating);
    c.n_group = to_int(k.integer("expert_group_count", 1), k, "expert_group_count");
    c.topk_group = to_int(k.integer("expert_group_used_count", c.n_group), k, "expert_group_used_count");
    // The selection bias marks noaux_tc; groups without it are V2's group-limited greedy.
    if (file.find_tensor(blk(c.first_k_dense_replace, "exp_probs_b.bias"))) c.topk_method = TopkMethod::NoauxTc;
    else if (c.n_group > 1) c.topk_method = TopkMethod::GroupLimitedGreedy;
    else c.topk_method = TopkMethod::Greedy;
  }
  c.model_type = c.scoring_func == ScoringFunc::Sigmoid ? "deepseek_v3" : "deepseek_v2";
  c.rope_theta = k.real("rope.freq_base", 10000.0);
  c.max_position_embeddings = k.integer("context_length");
  c.rms_norm_eps = k.real("attention.layer_norm_rms_epsilon");
  if (const GgufValue* type = k.find("rope.scaling.type")) {
    const std::string& name = type->as_string(k.where(arch_key("rope.scaling.type")));
    if (name == "yarn") {
      c.rope_scaling = RopeScaling::Yarn;
      c.rope_mscale_all_dim = k.real("rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
      c.rope_mscale = c.rope_mscale_all_dim;
      c.rope_beta_fast = k.real("rope.scaling.yarn_beta_fast", 32.0);
      c.rope_beta_slow = k.real("rope.scaling.yarn_beta_slow", 1.0);
    } else if (name == "linear") {
      c.rope_scaling = RopeScaling::Linear;
    } else if (name != "none") {
      fail("{}: unknown rope scaling \"{}\" (yarn, linear, none)", k.where(arch_key("rope.scaling.type")), name);
    }
    if (c.rope_scaling != RopeScaling::None) {
      c.rope_factor = k.real("rope.scaling.factor");
      c.rope_original_max_position_embeddings = k.integer("rope.scaling.original_context_length", 4096);
    }
  }
  c.tie_word_embeddings = file.find_tensor("output.weight") == nullptr;
  if (const GgufValue* bos = file.find("tokenizer.ggml.bos_token_id"))
    c.bos_token_id = bos->as_int(file.path() + ": tokenizer.ggml.bos_token_id");
  if (const GgufValue* eos = file.find("tokenizer.ggml.eos_token_id"))
    c.eos_token_ids = {eos->as_int(file.path() + ": tokenizer.ggml.eos_token_id")};
  c.validate(file.path());
  return c;
}

ModelWeights bind_gguf_weights(const ModelConfig& config, const GgufFile& file) {
  return bind_gguf_weights(
      config, [&](const std::string& name, const std::vector<int64_t>&) { return file.find_tensor(name); }, file.path());
}

ModelWeights bind_gguf_weights(const ModelConfig& config, const TensorLookup& lookup, const std::string& source) {
  GgufBinder bind(config, lookup, source);
  ModelWeights w;
  w.embed = bind.matrix("token_embd.weight", config.vocab_size, config.hidden_size);
  for (int l = 0; l < config.num_hidden_layers; ++l) w.layers.push_back(bind.layer(l));
  w.final_norm = bind.vector("output_norm.weight", config.hidden_size);
  w.lm_head = config.tie_word_embeddings ? w.embed : bind.matrix("output.weight", config.vocab_size, config.hidden_size);
  return w;
}

GgufMetadata gguf_model_metadata(const ModelConfig& c, const std::string& name) {
  auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  auto f32 = [](double v) { return GgufValue::f32(static_cast<float>(v)); };
  GgufMetadata m;
  auto add = [&](const char* key, GgufValue v) { m.emplace_back(arch_key(key), std::move(v)); };
  m.emplace_back("general.architecture", GgufValue::string(kGgufArch));
  m.emplace_back("general.name", GgufValue::string(name));
  add("block_count", u32(c.num_hidden_layers));
  add("context_length", u32(c.max_position_embeddings));
  add("embedding_length", u32(c.hidden_size));
  add("feed_forward_length", u32(c.intermediate_size));
  add("attention.head_count", u32(c.num_attention_heads));
  add("attention.head_count_kv", u32(1));  // MLA runs as MQA over the shared latent
  add("rope.freq_base", f32(c.rope_theta));
  add("attention.layer_norm_rms_epsilon", f32(c.rms_norm_eps));
  add("leading_dense_block_count", u32(c.first_k_dense_replace));
  add("vocab_size", u32(c.vocab_size));
  // llama.cpp requires q_lora_rank unless the layer count is V2-Lite's; 0 selects attn_q.
  add("attention.q_lora_rank", u32(c.q_lora_rank));
  add("attention.kv_lora_rank", u32(c.kv_lora_rank));
  add("attention.key_length", u32(c.kv_lora_rank + c.qk_rope_head_dim));
  add("attention.value_length", u32(c.kv_lora_rank));
  add("attention.key_length_mla", u32(c.qk_head_dim()));
  add("attention.value_length_mla", u32(c.v_head_dim));
  // llama.cpp requires expert_feed_forward_length and expert_shared_count, MoE or not.
  add("expert_feed_forward_length", u32(c.moe_intermediate_size));
  add("expert_shared_count", u32(c.n_shared_experts));
  if (c.n_routed_experts > 0) {
    add("expert_used_count", u32(c.num_experts_per_tok));
    add("expert_count", u32(c.n_routed_experts));
    add("expert_weights_scale", f32(c.routed_scaling_factor));
    add("expert_weights_norm", GgufValue::boolean(c.norm_topk_prob));
    add("expert_gating_func", u32(c.scoring_func == ScoringFunc::Sigmoid ? 2 : 1));
    if (c.topk_method != TopkMethod::Greedy && c.n_group > 1) {
      add("expert_group_count", u32(c.n_group));
      add("expert_group_used_count", u32(c.topk_group));
    }
  }
  add("rope.dimension_count", u32(c.qk_rope_head_dim));
  if (c.rope_scaling == RopeScaling::Yarn) {
    add("rope.scaling.type", GgufValue::string("yarn"));
    add("rope.scaling.factor", f32(c.rope_factor));
    add("rope.scaling.original_context_length", u32(c.rope_original_max_position_embeddings));
    add("rope.scaling.yarn_log_multiplier", f32(0.1 * c.rope_mscale_all_dim));
    if (c.rope_beta_fast != 32.0) add("rope.scaling.yarn_beta_fast", f32(c.rope_beta_fast));
    if (c.rope_beta_slow != 1.0) add("rope.scaling.yarn_beta_slow", f32(c.rope_beta_slow));
  } else if (c.rope_scaling == RopeScaling::Linear) {
    add("rope.scaling.type", GgufValue::string("linear"));
    add("rope.scaling.factor", f32(c.rope_factor));
  }
  return m;
}

}  // namespace dseek
