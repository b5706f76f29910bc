// What `dseek quantize` writes, checked against what llama.cpp's deepseek2 loader reads
// (llama-model.cpp, llama-vocab.cpp; see docs/gguf.md): every key it requires with the GGUF type
// its typed getters insist on, and every tensor it creates with its shape in GGUF order, no more.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "../io/io_test_util.h"
#include "fixture_reference.h"
#include "io/gguf.h"
#include "tools/quantize.h"

namespace dseek {
namespace {

using io_test::TempDir;

class LlamaCppLayout : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    QuantizeOptions options;
    options.type = "Q4_K_M";
    quantize_model(tools_test::model_dir(GetParam()), tmp_.file("q.gguf"), options);
    file_ = std::make_unique<GgufFile>(tmp_.file("q.gguf"));
  }

  // The key must be there with this type; its value as llama.cpp reads it.
  const GgufValue& expect_key(const std::string& key, GgufType type) {
    static const GgufValue missing;
    const GgufValue* v = file_->find(key);
    EXPECT_TRUE(v) << key << " is missing";
    if (!v) return missing;
    EXPECT_EQ(gguf_type_name(v->type), gguf_type_name(type)) << key;
    return *v;
  }
  int64_t u32(const std::string& key) {
    const GgufValue& v = expect_key("deepseek2." + key, GgufType::U32);
    return v.type == GgufType::U32 ? v.as_int(key) : 0;
  }
  void array(const std::string& key, GgufType elements, size_t size) {
    const GgufValue& v = expect_key(key, GgufType::ARRAY);
    EXPECT_EQ(gguf_type_name(v.array_type), gguf_type_name(elements)) << key;
    if (v.type == GgufType::ARRAY && size > 0) {
      EXPECT_EQ(v.as_array(key).size(), size) << key;
    }
  }

  TempDir tmp_;
  std::unique_ptr<GgufFile> file_;
};

TEST_P(LlamaCppLayout, KeysAndTensorsAreWhatLlamaCppLoads) {
  // Keys: general.*, then llama_model::load_hparams and the deepseek2 branch.
  EXPECT_EQ(expect_key("general.architecture", GgufType::STRING).as_string("arch"), "deepseek2");
  expect_key("general.name", GgufType::STRING);
  EXPECT_EQ(expect_key("general.file_type", GgufType::U32).as_int("file_type"), 15);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  expect_key("general.quantization_version", GgufType::U32);
  const int64_t n_embd = u32("embedding_length"), n_layer = u32("block_count"), n_ff = u32("feed_forward_length");
  const int64_t n_head = u32("attention.head_count");
  EXPECT_EQ(u32("attention.head_count_kv"), 1);
  u32("context_length");
  expect_key("deepseek2.attention.layer_norm_rms_epsilon", GgufType::F32);
  expect_key("deepseek2.rope.freq_base", GgufType::F32);
  const int64_t n_rot = u32("rope.dimension_count");
  const int64_t n_dense = u32("leading_dense_block_count");
  const int64_t q_lora = u32("attention.q_lora_rank"), kv_lora = u32("attention.kv_lora_rank");
  EXPECT_EQ(u32("attention.key_length"), kv_lora + n_rot);  // attention as MQA over the latent
  EXPECT_EQ(u32("attention.value_length"), kv_lora);
  const int64_t k_mla = u32("attention.key_length_mla"), v_mla = u32("attention.value_length_mla");
  const int64_t n_ff_exp = u32("expert_feed_forward_length"), n_shared = u32("expert_shared_count");
  const int64_t n_expert = u32("expert_count");
  EXPECT_GT(u32("expert_used_count"), 0);
  expect_key("deepseek2.expert_weights_scale", GgufType::F32);
  expect_key("deepseek2.expert_weights_norm", GgufType::BOOL);
  const int64_t gating = u32("expert_gating_func");
  EXPECT_TRUE(gating == 1 || gating == 2) << gating;
  if (const GgufValue* groups = file_->find("deepseek2.expert_group_count")) {
    EXPECT_EQ(groups->type, GgufType::U32);
    u32("expert_group_used_count");
  }
  if (const GgufValue* scaling = file_->find("deepseek2.rope.scaling.type")) {
    EXPECT_EQ(scaling->as_string("type"), "yarn");
    expect_key("deepseek2.rope.scaling.factor", GgufType::F32);
    u32("rope.scaling.original_context_length");
    expect_key("deepseek2.rope.scaling.yarn_log_multiplier", GgufType::F32);
  }
  const int64_t n_vocab = u32("vocab_size");
  EXPECT_EQ(file_->find("deepseek2.nextn_predict_layers"), nullptr);  // MTP layers are not written

  // Tokenizer keys: llama_vocab::impl::load.
  const std::string model = expect_key("tokenizer.ggml.model", GgufType::STRING).as_string("model");
  if (model == "gpt2") {
    expect_key("tokenizer.ggml.pre", GgufType::STRING);
    array("tokenizer.ggml.tokens", GgufType::STRING, n_vocab);
    array("tokenizer.ggml.token_type", GgufType::I32, n_vocab);
    array("tokenizer.ggml.merges", GgufType::STRING, 0);
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id"})
      EXPECT_LT(expect_key(key, GgufType::U32).as_int(key), n_vocab) << key;
    expect_key("tokenizer.ggml.add_bos_token", GgufType::BOOL);
    expect_key("tokenizer.ggml.add_eos_token", GgufType::BOOL);
    expect_key("tokenizer.chat_template", GgufType::STRING);
    // llama.cpp refuses a vocabulary with a token twice.
    std::set<std::string> seen;
    for (const GgufValue& token : file_->get("tokenizer.ggml.tokens").as_array("tokens"))
      EXPECT_TRUE(seen.insert(token.as_string("token")).second) << token.as_string("token");
  } else {
    EXPECT_EQ(model, "none");  // no tokenizer given: llama.cpp loads bare ids up to vocab_size
  }

  // Tensors: llama_model::load_tensors for LLM_ARCH_DEEPSEEK2, dims fastest first.
  std::map<std::string, std::vector<int64_t>> want;
  want["token_embd.weight"] = {n_embd, n_vocab};
  want["output_norm.weight"] = {n_embd};
  if (file_->find_tensor("output.weight")) want["output.weight"] = {n_embd, n_vocab};
  const int64_t nope = k_mla - n_rot;
  for (int64_t i = 0; i < n_layer; ++i) {
    auto name = [i](const std::string& n) { return "blk." + std::to_string(i) + "." + n + ".weight"; };
    want[name("attn_norm")] = {n_embd};
    if (q_lora > 0) {
      want[name("attn_q_a_norm")] = {q_lora};
      want[name("attn_q_a")] = {n_embd, q_lora};
      want[name("attn_q_b")] = {q_lora, n_head * k_mla};
    } else {
      want[name("attn_q")] = {n_embd, n_head * k_mla};
    }
    want[name("attn_kv_a_mqa")] = {n_embd, kv_lora + n_rot};
    want[name("attn_kv_a_norm")] = {kv_lora};
    want[name("attn_k_b")] = {nope, kv_lora, n_head};
    want[name("attn_v_b")] = {kv_lora, v_mla, n_head};
    want[name("attn_output")] = {n_head * v_mla, n_embd};
    want[name("ffn_norm")] = {n_embd};
    if (i < n_dense) {
      want[name("ffn_gate")] = {n_embd, n_ff};
      want[name("ffn_down")] = {n_ff, n_embd};
      want[name("ffn_up")] = {n_embd, n_ff};
      continue;
    }
    want[name("ffn_gate_inp")] = {n_embd, n_expert};
    std::string bias = "blk." + std::to_string(i) + ".exp_probs_b.bias";
    if (file_->find_tensor(bias)) want[bias] = {n_expert};
    want[name("ffn_down_exps")] = {n_ff_exp, n_embd, n_expert};
    want[name("ffn_gate_exps")] = {n_embd, n_ff_exp, n_expert};
    want[name("ffn_up_exps")] = {n_embd, n_ff_exp, n_expert};
    want[name("ffn_gate_shexp")] = {n_embd, n_ff_exp * n_shared};
    want[name("ffn_down_shexp")] = {n_ff_exp * n_shared, n_embd};
    want[name("ffn_up_shexp")] = {n_embd, n_ff_exp * n_shared};
  }
  // llama.cpp fails on a tensor it does not create as much as on a missing one.
  EXPECT_EQ(file_->infos().size(), want.size());
  for (const GgufTensorInfo& info : file_->infos()) {
    auto it = want.find(info.name);
    if (it == want.end()) {
      ADD_FAILURE() << "llama.cpp does not load tensor " << info.name;
      continue;
    }
    EXPECT_EQ(info.dims, it->second) << info.name;
    EXPECT_EQ(info.offset % file_->alignment(), 0u) << info.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Quantize, LlamaCppLayout, ::testing::Values("v2-lite-tiny", "v3-tiny-fp8", "v2-chat-tiny"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace dseek
