// The named weights of a DeepSeek model, bound once at load time with every shape checked.
// Matrices stay in their stored format (views into the file mapping); norms are small and
// are converted to F32.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/tensor_view.h"
#include "kernels/weight.h"
#include "model/config.h"

namespace dseek {

// SwiGLU: down(silu(gate(x)) * up(x)). A dense MLP, a routed expert, or the shared experts.
struct MlpWeights {
  Weight gate, up, down;
};

struct AttentionWeights {
  Weight q;                      // [H*qk_head_dim, D], without q-LoRA
  Weight q_a;                    // [q_lora_rank, D], with q-LoRA
  std::vector<float> q_a_norm;   // [q_lora_rank]
  Weight q_b;                    // [H*qk_head_dim, q_lora_rank]
  Weight kv_a;                   // [kv_lora_rank + rope, D]: the latent and the shared rope key
  std::vector<float> kv_a_norm;  // [kv_lora_rank]
  Weight kv_b;                   // [H*(nope + v), kv_lora_rank]: per head, key rows then value rows
  // GGUF files split kv_b per head instead: k_b transposed, [H*kv_lora_rank, nope], and
  // v_b [H*v, kv_lora_rank]. When k_b is bound, kv_b is not.
  Weight k_b, v_b;
  Weight o;                      // [D, H*v]
};

struct MoeWeights {
  Weight router;                     // [n_routed_experts, D]
  std::vector<float> score_bias;     // e_score_correction_bias (noaux_tc); chooses, never weighs
  std::vector<MlpWeights> experts;
  std::optional<MlpWeights> shared;  // all shared experts as one MLP
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  AttentionWeights attn;
  std::optional<MlpWeights> mlp;  // dense layers
  std::optional<MoeWeights> moe;  // MoE layers
};

// A multi-token-prediction module (DeepSeek-V3): used for speculative decoding.
struct MtpWeights {
  std::vector<float> enorm, hnorm;
  Weight eh_proj;  // [D, 2D]
  std::vector<float> head_norm;
  Weight head;  // [V, D]
  LayerWeights block;
};

struct ModelWeights {
  Weight embed;  // [V, D]
  std::vector<LayerWeights> layers;
  std::vector<MtpWeights> mtp;
  std::vector<float> final_norm;
  Weight lm_head;  // [V, D]

  // Bytes one decode step reads: every non-expert matrix, the shared experts, and
  // num_experts_per_tok routed experts per MoE layer; the embedding row is negligible.
  int64_t decode_bytes(const ModelConfig& config) const;
};

// Where tensors come from: returns nullptr for a name it does not hold. `expected_shape` is
// what the architecture calls for, so that a source of random weights can make the tensor.
using TensorLookup = std::function<const TensorView*(const std::string& name, const std::vector<int64_t>& expected_shape)>;

// Binds every tensor the config calls for; errors name the tensor and `source`, with the
// expected and found shape or dtype.
ModelWeights bind_weights(const ModelConfig& config, const TensorLookup& lookup, const std::string& source);

}  // namespace dseek
