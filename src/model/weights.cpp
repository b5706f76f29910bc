#include "model/weights.h"

#include "kernels/matmul.h"
#include "util/error.h"

namespace dseek {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

class Binder {
 public:
  Binder(const ModelConfig& config, const TensorLookup& lookup, const std::string& source)
      : config_(config), lookup_(lookup), source_(source) {}

  const TensorView& tensor(const std::string& name, const std::vector<int64_t>& shape) const {
    const TensorView* t = lookup_(name, shape);
    if (!t) fail("{}: missing tensor {}", source_, name);
    return *t;
  }

  void expect_shape(const TensorView& t, std::vector<int64_t> shape) const {
    if (t.shape != shape) {
      TensorView expected;
      expected.shape = std::move(shape);
      fail("{}: tensor {} has shape {}, expected {}", where(t), t.name, t.shape_string(), expected.shape_string());
    }
  }

  Weight matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorView& t = tensor(name, {rows, cols});
    expect_shape(t, {rows, cols});
    Weight w;
    w.dtype = t.dtype;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    w.row_stride = cols;
    switch (t.dtype) {
      case DType::F32:
      case DType::F16:
      case DType::BF16:
        break;
      case DType::F8_E4M3: {
        int64_t br = config_.weight_block_rows, bc = config_.weight_block_cols;
        std::vector<int64_t> scale_shape{ceil_div(rows, br), ceil_div(cols, bc)};
        const TensorView& scale = tensor(name + "_scale_inv", scale_shape);
        expect_shape(scale, scale_shape);
        if (scale.dtype != DType::F32)
          fail("{}: tensor {} has dtype {}, expected F32", where(scale), scale.name, dtype_name(scale.dtype));
        w.block_scale = static_cast<const float*>(scale.data);
        w.block_rows = br;
        w.block_cols = bc;
        w.scale_cols = ceil_div(cols, bc);
        break;
      }
      default:
        fail("{}: tensor {} has dtype {}, which is not a weight format (F32, F16, BF16, F8_E4M3)", where(t), name,
             dtype_name(t.dtype));
    }
    return w;
  }

  std::vector<float> vector(const std::string& name, int64_t size) const {
    const TensorView& t = tensor(name, {size});
    expect_shape(t, {size});
    std::vector<float> out(size);
    Weight w;
    w.dtype = t.dtype;
    w.rows = 1;
    w.cols = size;
    w.data = t.data;
    w.row_stride = size;
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
      fail("{}: tensor {} has dtype {}, expected F32, F16 or BF16", where(t), name, dtype_name(t.dtype));
    dequantize_rows(w, 0, 1, out.data());
    return out;
  }

  MlpWeights mlp(const std::string& prefix, int64_t inner) const {
    int64_t d = config_.hidden_size;
    return {matrix(prefix + "gate_proj.weight", inner, d), matrix(prefix + "up_proj.weight", inner, d),
            matrix(prefix + "down_proj.weight", d, inner)};
  }

  AttentionWeights attention(const std::string& prefix) const {
    const ModelConfig& c = config_;
    int64_t d = c.hidden_size, h = c.num_attention_heads;
    AttentionWeights a;
    if (c.q_lora_rank > 0) {
      a.q_a = matrix(prefix + "q_a_proj.weight", c.q_lora_rank, d);
      a.q_a_norm = vector(prefix + "q_a_layernorm.weight", c.q_lora_rank);
      a.q_b = matrix(prefix + "q_b_proj.weight", h * c.qk_head_dim(), c.q_lora_rank);
    } else {
      a.q = matrix(prefix + "q_proj.weight", h * c.qk_head_dim(), d);
    }
    a.kv_a = matrix(prefix + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, d);
    a.kv_a_norm = vector(prefix + "kv_a_layernorm.weight", c.kv_lora_rank);
    a.kv_b = matrix(prefix + "kv_b_proj.weight", h * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
    a.o = matrix(prefix + "o_proj.weight", d, h * c.v_head_dim);
    return a;
  }

  LayerWeights layer(int index, bool moe_layer) const {
    const ModelConfig& c = config_;
    std::string p = "model.layers." + std::to_string(index) + ".";
    LayerWeights l;
    l.attn_norm = vector(p + "input_layernorm.weight", c.hidden_size);
    l.ffn_norm = vector(p + "post_attention_layernorm.weight", c.hidden_size);
    l.attn = attention(p + "self_attn.");
    if (!moe_layer) {
      l.mlp = mlp(p + "mlp.", c.intermediate_size);
      return l;
    }
    MoeWeights m;
    m.router = matrix(p + "mlp.gate.weight", c.n_routed_experts, c.hidden_size);
    if (c.topk_method == TopkMethod::NoauxTc)
      m.score_bias = vector(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts);
    for (int e = 0; e < c.n_routed_experts; ++e)
      m.experts.push_back(mlp(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size));
    if (c.n_shared_experts > 0)
      m.shared = mlp(p + "mlp.shared_experts.", c.moe_intermediate_size * c.n_shared_experts);
    l.moe = std::move(m);
    return l;
  }

  MtpWeights mtp(int index) const {
    const ModelConfig& c = config_;
    std::string p = "model.layers." + std::to_string(index) + ".";
    MtpWeights m;
    m.enorm = vector(p + "enorm.weight", c.hidden_size);
    m.hnorm = vector(p + "hnorm.weight", c.hidden_size);
    m.eh_proj = matrix(p + "eh_proj.weight", c.hidden_size, 2 * c.hidden_size);
    m.head_norm = vector(p + "shared_head.norm.weight", c.hidden_size);
    m.head = matrix(p + "shared_head.head.weight", c.vocab_size, c.hidden_size);
    m.block = layer(index, c.is_moe_layer(index));
    return m;
  }

 private:
  std::string where(const TensorView& t) const { return t.file.empty() ? source_ : t.file; }

  const ModelConfig& config_;
  const TensorLookup& lookup_;
  const std::string& source_;
};

int64_t mlp_bytes(const MlpWeights& m) { return m.gate.bytes() + m.up.bytes() + m.down.bytes(); }

}  // namespace

ModelWeights bind_weights(const ModelConfig& config, const TensorLookup& lookup, const std::string& source) {
  Binder bind(config, lookup, source);
  ModelWeights w;
  w.embed = bind.matrix("model.embed_tokens.weight", config.vocab_size, config.hidden_size);
  for (int l = 0; l < config.num_hidden_layers; ++l) w.layers.push_back(bind.layer(l, config.is_moe_layer(l)));
  for (int k = 0; k < config.num_nextn_predict_layers; ++k) {
    // Checkpoints converted for inference often drop the MTP module; it is optional.
    std::string probe = "model.layers." + std::to_string(config.num_hidden_layers + k) + ".eh_proj.weight";
    if (!lookup(probe, {config.hidden_size, 2 * config.hidden_size})) break;
    w.mtp.push_back(bind.mtp(config.num_hidden_layers + k));
  }
  w.final_norm = bind.vector("model.norm.weight", config.hidden_size);
  w.lm_head = config.tie_word_embeddings ? w.embed : bind.matrix("lm_head.weight", config.vocab_size, config.hidden_size);
  return w;
}

int64_t ModelWeights::decode_bytes(const ModelConfig& config) const {
  int64_t total = lm_head.bytes();
  for (const LayerWeights& l : layers) {
    const AttentionWeights& a = l.attn;
    total += a.q.bytes() + a.q_a.bytes() + a.q_b.bytes() + a.kv_a.bytes() + a.kv_b.bytes() + a.k_b.bytes() +
             a.v_b.bytes() + a.o.bytes();
    if (l.mlp) total += mlp_bytes(*l.mlp);
    if (l.moe) {
      total += l.moe->router.bytes() + config.num_experts_per_tok * mlp_bytes(l.moe->experts.front());
      if (l.moe->shared) total += mlp_bytes(*l.moe->shared);
    }
  }
  return total;
}

}  // namespace dseek
