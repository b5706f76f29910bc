// GGUF models: written by quantize_model from the fixture checkpoints, loaded back, and run
// against DeepSeek's reference logits (../shared/fixtures/models).
#include "model/gguf_model.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../io/io_test_util.h"
#include "../tools/fixture_reference.h"
#include "model/deepseek.h"
#include "quant/dot.h"
#include "tools/quantize.h"
#include "util/error.h"

namespace dseek {
namespace {

using io_test::TempDir;
using tools_test::Agreement;
using tools_test::compare_to_reference;
using tools_test::model_dir;

struct Case {
  std::string model, type;
};

class GgufModelReference : public ::testing::TestWithParam<Case> {};

// Lossless types: F32 for both; BF16 and F16 hold v2-lite-tiny's BF16 weights exactly.
TEST_P(GgufModelReference, LogitsMatchReference) {
  TempDir tmp;
  std::string dir = model_dir(GetParam().model), path = tmp.file("model.gguf");
  QuantizeOptions options;
  options.type = GetParam().type;
  quantize_model(dir, path, options);
  auto model = DeepSeekModel::load_gguf(path);
  Agreement a = compare_to_reference(*model, dir);
  EXPECT_LE(a.worst_l2, 1e-4);
  EXPECT_EQ(a.same_top1, a.positions);
}

INSTANTIATE_TEST_SUITE_P(GgufModel, GgufModelReference,
                         ::testing::Values(Case{"v2-lite-tiny", "F32"}, Case{"v3-tiny-fp8", "F32"},
                                           Case{"v2-lite-tiny", "BF16"}, Case{"v2-lite-tiny", "F16"}),
                         [](const auto& info) { return std::string(info.param.model[1] == '2' ? "V2" : "V3") + info.param.type; });

TEST(GgufModel, ConfigRoundTrips) {
  for (const char* name : {"v2-lite-tiny", "v3-tiny-fp8"}) {
    TempDir tmp;
    QuantizeOptions options;
    options.type = "F32";
    quantize_model(model_dir(name), tmp.file("m.gguf"), options);
    ModelConfig want = load_model_config(model_dir(name));
    ModelConfig got = gguf_model_config(GgufFile(tmp.file("m.gguf")));
    EXPECT_EQ(got.vocab_size, want.vocab_size) << name;
    EXPECT_EQ(got.hidden_size, want.hidden_size) << name;
    EXPECT_EQ(got.num_hidden_layers, want.num_hidden_layers) << name;
    EXPECT_EQ(got.num_nextn_predict_layers, 0) << name;
    EXPECT_EQ(got.q_lora_rank, want.q_lora_rank) << name;
    EXPECT_EQ(got.qk_nope_head_dim, want.qk_nope_head_dim) << name;
    EXPECT_EQ(got.v_head_dim, want.v_head_dim) << name;
    EXPECT_EQ(got.topk_method, want.topk_method) << name;
    EXPECT_EQ(got.scoring_func, want.scoring_func) << name;
    EXPECT_EQ(got.n_group, want.n_group) << name;
    EXPECT_EQ(got.topk_group, want.topk_group) << name;
    EXPECT_EQ(got.norm_topk_prob, want.norm_topk_prob) << name;
    EXPECT_FLOAT_EQ(got.routed_scaling_factor, want.routed_scaling_factor) << name;
    EXPECT_EQ(got.rope_scaling, want.rope_scaling) << name;
    EXPECT_NEAR(got.rope_mscale_all_dim, want.rope_mscale_all_dim, 1e-6) << name;
    EXPECT_NEAR(got.softmax_scale(), want.softmax_scale(), 1e-6 * want.softmax_scale()) << name;
  }
}

// A file's pages stay cached once placed weights leave its mapping, so a budget smaller than
// its weights places what fits, once, and the model runs from both.
TEST(GgufModel, PlacementFromAFileStaysWithinItsBudget) {
  TempDir tmp;
  QuantizeOptions options;
  options.type = "Q8_0";
  const std::string path = tmp.file("m.gguf");
  quantize_model(model_dir("v2-lite-tiny"), path, options);
  auto whole = DeepSeekModel::load_gguf(path);
  auto partly = DeepSeekModel::load_gguf(path);
  const DeepSeekModel::Placement all = whole->repack_weights();
  const int64_t total = all.repacked_bytes + all.moved_bytes;
  EXPECT_EQ(all.peak_bytes, total);
  const DeepSeekModel::Placement placed = partly->repack_weights(total / 2);
  EXPECT_LE(placed.repacked_bytes + placed.moved_bytes, total / 2);
  EXPECT_EQ(placed.peak_bytes, placed.repacked_bytes + placed.moved_bytes);
  if (quant::active_dot_isa() == quant::DotIsa::Avx512Vnni || WeightMemory::huge_pages()) {
    EXPECT_GT(placed.peak_bytes, total / 4);
  }
  KvCache whole_cache = whole->make_cache(8), partly_cache = partly->make_cache(8);
  Batch batch;
  for (int t = 0; t < 6; ++t) batch.add(100 * t + 5, t, 0, true);
  for (KvCache* cache : {&whole_cache, &partly_cache}) cache->reserve(cache->add_sequence(), 6);
  const std::vector<float> want = whole->forward(batch, whole_cache), got = partly->forward(batch, partly_cache);
  ASSERT_EQ(got.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) ASSERT_NEAR(got[j], want[j], 1e-3f * (std::fabs(want[j]) + 1)) << j;
}

// A copy of `path` with `key` removed, or tensor `tensor` given the shape [1].
std::string damaged(const TempDir& tmp, const std::string& path, const std::string& key, const std::string& tensor) {
  GgufFile in(path);
  GgufMetadata metadata;
  for (const auto& kv : in.metadata())
    if (kv.first != key) metadata.push_back(kv);
  std::vector<GgufTensorData> tensors;
  for (const TensorView& t : in.tensors())
    tensors.push_back({t.name, t.dtype, t.name == tensor ? std::vector<int64_t>{1} : t.shape, t.data});
  std::string out = tmp.file("damaged.gguf");
  write_gguf(out, metadata, tensors);
  return out;
}

TEST(GgufModel, ErrorsNameTheKeyOrTensor) {
  TempDir tmp;
  QuantizeOptions options;
  options.type = "F32";
  std::string path = tmp.file("m.gguf");
  quantize_model(model_dir("v2-lite-tiny"), path, options);
  for (auto [key, tensor, expect] : {std::tuple{"deepseek2.embedding_length", "", "deepseek2.embedding_length"},
                                     std::tuple{"deepseek2.attention.kv_lora_rank", "", "deepseek2.attention.kv_lora_rank"},
                                     std::tuple{"", "blk.1.ffn_up_exps.weight", "blk.1.ffn_up_exps.weight"},
                                     std::tuple{"", "blk.0.attn_k_b.weight", "blk.0.attn_k_b.weight"}}) {
    std::string bad = damaged(tmp, path, key, tensor);
    try {
      DeepSeekModel::load_gguf(bad);
      ADD_FAILURE() << "loaded without " << key << tensor;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  }
}

TEST(GgufModel, WritesLlamaCppLayout) {
  TempDir tmp;
  QuantizeOptions options;
  options.type = "Q8_0";
  quantize_model(model_dir("v3-tiny-fp8"), tmp.file("m.gguf"), options);
  GgufFile f(tmp.file("m.gguf"));
  EXPECT_EQ(f.get("general.architecture").as_string("arch"), "deepseek2");
  EXPECT_EQ(f.get("deepseek2.attention.key_length").as_int("k"), 64 + 16);
  EXPECT_EQ(f.get("deepseek2.attention.key_length_mla").as_int("k"), 32 + 16);
  EXPECT_EQ(f.get("deepseek2.expert_gating_func").as_int("g"), 2);
  // Stacked experts [E, N, K] are GGUF dims {K, N, E}; k_b is {nope, kv_lora, H}.
  const GgufTensorInfo* exps = nullptr;
  const GgufTensorInfo* k_b = nullptr;
  for (const GgufTensorInfo& info : f.infos()) {
    if (info.name == "blk.1.ffn_down_exps.weight") exps = &info;
    if (info.name == "blk.0.attn_k_b.weight") k_b = &info;
  }
  ASSERT_TRUE(exps && k_b);
  EXPECT_EQ(exps->dims, (std::vector<int64_t>{48, 160, 16}));
  EXPECT_EQ(k_b->dims, (std::vector<int64_t>{32, 64, 4}));
  EXPECT_EQ(f.tensor("blk.1.ffn_gate_inp.weight").dtype, DType::F32);
  EXPECT_EQ(f.tensor("blk.1.exp_probs_b.bias").dtype, DType::F32);
  EXPECT_EQ(f.tensor("blk.1.ffn_up_exps.weight").dtype, DType::Q8_0);
  EXPECT_EQ(f.find_tensor("blk.4.nextn.eh_proj.weight"), nullptr);
}

}  // namespace
}  // namespace dseek
