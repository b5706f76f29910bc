// llama.cpp itself on the GGUF files dseek writes. node-llama-cpp's prebuilt CPU build of
// llama.cpp (tests/tools/llamacpp/logits.mjs) loads each file and computes logits, which must be
// DeepSeek's reference logits for lossless weights, and dseek's own logits on the same file for
// every quantized type.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../io/io_test_util.h"
#include "../util/shell.h"
#include "fixture_reference.h"
#include "io/safetensors.h"
#include "model/deepseek.h"
#include "tools/quantize.h"

namespace dseek {
namespace {

namespace fs = std::filesystem;
using io_test::TempDir;
using test_util::run_shell;
using test_util::shell_quote;
using tools_test::Agreement;
using tools_test::model_dir;

const fs::path kNodeDir = fs::path(__FILE__).parent_path() / "llamacpp";

#if defined(__linux__) && defined(__x86_64__)
constexpr bool kLinuxX64 = true;
#else
constexpr bool kLinuxX64 = false;
#endif

// Skips the test where the pinned llama.cpp build cannot run; installs it once.
#define REQUIRE_LLAMA_CPP()                                                                                          \
  do {                                                                                                               \
    if (!kLinuxX64) GTEST_SKIP() << "the llama.cpp build these tests pin is node-llama-cpp's linux-x64 one";         \
    test_util::install_npm_packages(kNodeDir, "node_modules/@node-llama-cpp/linux-x64/package.json",                 \
                                    "npm install --omit=optional --ignore-scripts --no-save");                       \
    ASSERT_FALSE(::testing::Test::HasFailure());                                                                     \
  } while (false)

// llama.cpp's logits after one prefill of each sequence: tensor "s<i>" [tokens, vocab].
SafetensorsFile llama_cpp_logits(const std::string& gguf, const std::vector<std::vector<int32_t>>& sequences,
                                 const std::string& out) {
  std::string command = "node " + shell_quote((kNodeDir / "logits.mjs").string()) + " " + shell_quote(gguf) + " " +
                        shell_quote(out);
  for (size_t i = 0; i < sequences.size(); ++i) {
    command += fmt::format(" s{}=", i);
    for (size_t t = 0; t < sequences[i].size(); ++t) {
      if (t > 0) command += ",";
      command += std::to_string(sequences[i][t]);
    }
  }
  test_util::CommandResult node = run_shell(command);
  if (node.status != 0) throw std::runtime_error("llama.cpp failed on " + gguf + ":\n" + node.output);
  return SafetensorsFile(out);
}

const float* logits_of(const SafetensorsFile& file, size_t sequence) {
  return static_cast<const float*>(tools_test::find(file, fmt::format("s{}", sequence)).data);
}

class LlamaCppOnFixture : public ::testing::TestWithParam<std::string> {};

// llama.cpp's and dseek's logits for the reference prompts, from a GGUF of `type` (in shards
// of split_max_bytes when not 0), each against the reference.
struct FixtureAgreement {
  Agreement llama_cpp, dseek;
  size_t files = 0;
};
FixtureAgreement run_reference_prompts(const std::string& fixture, const std::string& type, uint64_t split_max_bytes = 0) {
  TempDir tmp;
  QuantizeOptions options;
  options.type = type;
  options.split_max_bytes = split_max_bytes;
  const std::vector<std::string> files = quantize_model(model_dir(fixture), tmp.file("model.gguf"), options);
  SafetensorsFile ref(model_dir(fixture) + "/reference.safetensors");
  std::vector<std::vector<int32_t>> prompts;
  for (int k = 0; k < 4; ++k) prompts.push_back(tools_test::reference_tokens(ref, k));
  SafetensorsFile llama = llama_cpp_logits(files.front(), prompts, tmp.file("llama.safetensors"));
  auto model = DeepSeekModel::load_gguf(files.front());
  const int64_t vocab = model->config().vocab_size;
  FixtureAgreement a;
  a.files = files.size();
  a.dseek = tools_test::compare_to_reference(*model, model_dir(fixture));
  for (size_t k = 0; k < prompts.size(); ++k) {
    const TensorView& reference = tools_test::find(ref, tools_test::prompt_tensor(static_cast<int>(k), "logits"));
    const auto* want = static_cast<const float*>(reference.data);
    for (size_t t = 0; t < prompts[k].size(); ++t) a.llama_cpp.add(logits_of(llama, k) + t * vocab, want + t * vocab, vocab);
  }
  return a;
}

// Everything llama.cpp reads (metadata keys, tensor names and shapes, the split attn_k_b /
// attn_v_b, exp_probs_b, YaRN, group-limited routing) as DeepSeek's reference means it.
TEST_P(LlamaCppOnFixture, LosslessGgufGivesTheReferenceLogits) {
  REQUIRE_LLAMA_CPP();
  FixtureAgreement a = run_reference_prompts(GetParam(), "F32");
  EXPECT_LE(a.llama_cpp.worst_l2, 1e-4);
  EXPECT_EQ(a.llama_cpp.same_top1, a.llama_cpp.positions);
}

// Split as llama.cpp's gguf-split writes a model (DeepSeek-V3's GGUFs come in shards of under
// 50 GB): llama.cpp opens dseek's shards from the first, as dseek does.
TEST_P(LlamaCppOnFixture, SplitGgufGivesTheReferenceLogits) {
  REQUIRE_LLAMA_CPP();
  FixtureAgreement a = run_reference_prompts(GetParam(), "F32", 256 << 10);
  EXPECT_GE(a.files, 3u);
  EXPECT_LE(a.llama_cpp.worst_l2, 1e-4);
  EXPECT_EQ(a.llama_cpp.same_top1, a.llama_cpp.positions);
  EXPECT_LE(a.dseek.worst_l2, 1e-4);
  EXPECT_EQ(a.dseek.same_top1, a.dseek.positions);
}

// The fixtures' random weights route with margins near 1e-5, so Q8_0 rounding flips some
// next-token choices in any engine: llama.cpp keeps 181 and 170 of the 191 (V2, V3). dseek
// must keep about as many (within 4%).
TEST_P(LlamaCppOnFixture, Q8_0KeepsTheReferenceChoicesAsLlamaCppDoes) {
  REQUIRE_LLAMA_CPP();
  FixtureAgreement a = run_reference_prompts(GetParam(), "Q8_0");
  std::printf("Q8_0 top-1 agreement with the reference: llama.cpp %d, dseek %d of %d\n", a.llama_cpp.same_top1,
              a.dseek.same_top1, a.dseek.positions);
  EXPECT_GE(a.dseek.same_top1, 0.96 * a.llama_cpp.same_top1);
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, LlamaCppOnFixture, ::testing::Values("v2-lite-tiny", "v3-tiny-fp8"),
                         [](const auto& info) { return info.param[1] == '2' ? std::string("V2") : std::string("V3"); });

// A DeepSeek-V3-shaped checkpoint wide enough for the 256-value K-quant blocks (the fixtures'
// rows are not), from ../shared/tools/make_checkpoint.py. Every token uses all four routed
// experts: with random weights, routing margins are so small that any two engines' int8
// roundings would pick different experts somewhere and hide what this compares.
constexpr const char* kWideSpec = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "seed": 11, "weight_dtype": "bf16",
  "vocab_size": 1024, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 256,
  "num_hidden_layers": 3, "first_k_dense_replace": 1, "moe_layer_freq": 1, "num_nextn_predict_layers": 0,
  "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 256, "kv_lora_rank": 256,
  "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "v_head_dim": 64,
  "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 4, "n_group": 1, "topk_group": 1,
  "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true, "routed_scaling_factor": 2.5,
  "rope_theta": 10000, "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096,
  "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "max_position_embeddings": 163840, "rms_norm_eps": 1e-06, "hidden_act": "silu", "attention_bias": false,
  "tie_word_embeddings": false, "bos_token_id": 0, "eos_token_id": 1
})";

class LlamaCppQuantType : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!kLinuxX64) return;
    dir_ = std::make_unique<TempDir>();
    io_test::write_bytes(dir_->file("spec.json"), kWideSpec);
    const std::string script = std::string(DSEEK_SHARED) + "/tools/make_checkpoint.py";
    std::string error;
    for (const char* python : {"python3", "/usr/bin/python3"}) {  // the first one with numpy
      test_util::CommandResult made = run_shell(fmt::format("{} {} {} {}", python, shell_quote(script),
                                                            shell_quote(dir_->file("spec.json")),
                                                            shell_quote(dir_->file("model"))));
      if (made.status == 0) return;
      error += made.output;
    }
    FAIL() << "make_checkpoint.py needs python3 with numpy:\n" << error;
  }
  static void TearDownTestSuite() { dir_.reset(); }
  static inline std::unique_ptr<TempDir> dir_;
};

// llama.cpp reads each type's blocks as dseek writes and reads them: both engines compute the
// same quantized model, differing only in how they round activations to int8 (about 3% here,
// where a quantized type's own error is 7-90%; a misread block gives errors near 100%).
TEST_P(LlamaCppQuantType, ComputesWhatDseekComputes) {
  REQUIRE_LLAMA_CPP();
  TempDir tmp;
  QuantizeOptions options;
  options.type = GetParam();
  quantize_model(dir_->file("model"), tmp.file("model.gguf"), options);
  std::vector<std::vector<int32_t>> sequences(2);
  for (int32_t t = 0; t < 24; ++t) sequences[0].push_back((37 * t + 11) % 1024);
  for (int32_t t = 0; t < 40; ++t) sequences[1].push_back((101 * t + 5) % 1024);
  SafetensorsFile llama = llama_cpp_logits(tmp.file("model.gguf"), sequences, tmp.file("llama.safetensors"));
  auto model = DeepSeekModel::load_gguf(tmp.file("model.gguf"));
  const int64_t vocab = model->config().vocab_size;
  Agreement a;
  for (size_t s = 0; s < sequences.size(); ++s) {
    std::vector<float> ours = tools_test::prefill_logits(*model, sequences[s]);
    for (size_t t = 0; t < sequences[s].size(); ++t) a.add(logits_of(llama, s) + t * vocab, ours.data() + t * vocab, vocab);
  }
  std::printf("%s: llama.cpp against dseek: median relative L2 %.2e, worst %.2e, top-1 %d of %d\n", GetParam().c_str(),
              a.median_l2(), a.worst_l2, a.same_top1, a.positions);
  EXPECT_LE(a.median_l2(), 0.08);
  EXPECT_LE(a.worst_l2, 0.15);
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, LlamaCppQuantType,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "Q2_K",
                                           "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dseek
