// DeepSeek models in llama.cpp's GGUF files (architecture "deepseek2"): the metadata keys and
// tensor names, both ways.
//
// Conventions (as llama.cpp's converter writes them):
// - metadata `deepseek2.*`: block_count, embedding_length, feed_forward_length, attention.*
//   (head_count, q_lora_rank (0 or absent: full-rank queries), kv_lora_rank, key_length/value_length,
//   and in MLA files key_length_mla/value_length_mla), rope.*, expert_* and
//   leading_dense_block_count;
// - tensors token_embd, output_norm, output and blk.N.*; routed experts stacked [E, N, K];
//   the key/value up-projection either as attn_kv_b (older files) or split per head into
//   attn_k_b [H, kv_lora, nope] (transposed) and attn_v_b [H, v, kv_lora];
// - multi-token-prediction layers are not converted (llama.cpp drops them);
// - YaRN's `mscale` is not stored: it is taken equal to `mscale_all_dim` (true of every
//   DeepSeek release, where the two cancel in the rotary tables).
#pragma once

#include <string>

#include "io/gguf.h"
#include "model/config.h"
#include "model/weights.h"

namespace dseek {

inline constexpr const char* kGgufArch = "deepseek2";

// The architecture from the file's metadata and tensor shapes; errors name the file and key.
ModelConfig gguf_model_config(const GgufFile& file);

// Views of every weight the config calls for (norms and biases copied to F32); errors name the
// file and tensor, with the expected and found shape or type.
ModelWeights bind_gguf_weights(const ModelConfig& config, const GgufFile& file);
// The same from any source of tensors under GGUF names (random weights); errors name `source`.
ModelWeights bind_gguf_weights(const ModelConfig& config, const TensorLookup& lookup, const std::string& source);

// The `general.*` and `deepseek2.*` keys describing `config` (no tokenizer keys), with every key
// llama.cpp's loader requires (docs/gguf.md).
GgufMetadata gguf_model_metadata(const ModelConfig& config, const std::string& name);

}  // namespace dseek
