// Random weights in quantized types: every tensor in the type `dseek quantize` would give it,
// and a model that runs to finite logits.
#include "model/random_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model/deepseek.h"
#include "model/gguf_model.h"
#include "quant/dot.h"

namespace dseek {
namespace {

// The V2-Lite fixture widened so that rows hold whole K-quant blocks (256 values), with k_b's
// rows of 16 values left to fall back to F16 and attn_output's of 64 to Q5_0.
ModelConfig k_quant_config() {
  ModelConfig c = load_model_config(std::string(DSEEK_FIXTURES) + "/models/v2-lite-tiny");
  c.hidden_size = 256;
  c.intermediate_size = 512;
  c.moe_intermediate_size = 256;
  c.kv_lora_rank = 256;
  return c;
}

class RandomQuantized : public ::testing::TestWithParam<std::string> {};

TEST_P(RandomQuantized, EveryTensorTakesTheQuantizePlansType) {
  ModelConfig config = k_quant_config();
  QuantPlan plan(GetParam(), {}, config.num_hidden_layers);
  RandomWeights source(config, plan, 7);
  std::map<std::string, DType> types;
  ModelWeights w = bind_gguf_weights(
      config,
      [&](const std::string& name, const std::vector<int64_t>& shape) {
        const TensorView* t = source.get(name, shape);
        EXPECT_EQ(t->dtype, plan.choose(name, shape)) << name;
        types[name] = t->dtype;
        return t;
      },
      "random");
  EXPECT_EQ(types.size(), 3u + 3 * 8 + 3 + 2 * 7);  // model, per layer, dense MLP, per MoE layer
  const LayerWeights& moe = w.layers[1];
  ASSERT_TRUE(moe.moe.has_value());
  EXPECT_EQ(moe.moe->experts.size(), 8u);
  EXPECT_EQ(moe.moe->router.dtype, DType::F32);
  EXPECT_EQ(moe.attn.k_b.dtype, DType::F16);  // rows of 16: not whole blocks of any type
  if (GetParam() == "q8_0") {
    EXPECT_EQ(moe.moe->experts[3].gate.dtype, DType::Q8_0);
    EXPECT_EQ(w.lm_head.dtype, DType::Q8_0);
  } else {
    EXPECT_EQ(moe.moe->experts[3].gate.dtype, DType::Q4_K);
    // Of 3 layers, llama.cpp's mix gives ffn_down more bits in the last.
    EXPECT_EQ(moe.moe->experts[3].down.dtype, DType::Q4_K);
    EXPECT_EQ(w.layers[2].moe->experts[3].down.dtype, DType::Q6_K);
    EXPECT_EQ(moe.attn.v_b.dtype, DType::Q4_K);
    EXPECT_EQ(moe.attn.o.dtype, DType::Q5_0);
    EXPECT_EQ(w.lm_head.dtype, DType::Q6_K);
  }
  EXPECT_GT(source.bytes_made(), 0);
  EXPECT_EQ(source.elements_made(), config.parameter_count(false));
}

TEST_P(RandomQuantized, ForwardGivesFiniteVariedLogits) {
  auto model = DeepSeekModel::random(k_quant_config(), QuantPlan(GetParam(), {}, k_quant_config().num_hidden_layers), 7);
  KvCache cache = model->make_cache(8);
  int seq = cache.add_sequence();
  cache.reserve(seq, 4);
  Batch batch;
  for (int t = 0; t < 4; ++t) batch.add(100 * t + 5, t, seq, true);
  std::vector<float> logits = model->forward(batch, cache);
  ASSERT_EQ(logits.size(), 4u * 1024);
  float low = logits[0], high = logits[0];
  for (float x : logits) {
    ASSERT_TRUE(std::isfinite(x));
    low = std::min(low, x), high = std::max(high, x);
  }
  EXPECT_GT(high - low, 0.1f);
}

// The model's logits after a prefill of 6 tokens (the VNNI panels) and after one more decode
// step (the threads split interleaved groups whole).
std::vector<std::vector<float>> prefill_and_decode_logits(DeepSeekModel& model) {
  KvCache cache = model.make_cache(8);
  int seq = cache.add_sequence();
  cache.reserve(seq, 7);
  Batch prefill, decode;
  for (int t = 0; t < 6; ++t) prefill.add(100 * t + 5, t, seq, true);
  decode.add(42, 6, seq, true);
  std::vector<std::vector<float>> logits;
  logits.push_back(model.forward(prefill, cache));
  logits.push_back(model.forward(decode, cache));
  return logits;
}

// Either layout gives the same integer sums, so the logits agree to float rounding, but where
// prefill runs over Q4_K_R16, whose panels requantize the weights (quant_matmul.h): 0.7% RMS
// noise per product, which moves some of this random model's routing choices, and the keys
// that decode then reads. The logits then agree in relative L2 (measured 2.4%; one block read
// wrong gives about 100%).
void expect_same_logits(DeepSeekModel& want, DeepSeekModel& got, bool prefill_requantized) {
  const std::vector<std::vector<float>> a = prefill_and_decode_logits(want), b = prefill_and_decode_logits(got);
  for (int step = 0; step < 2; ++step) {
    SCOPED_TRACE(step == 0 ? "prefill" : "decode");
    ASSERT_EQ(a[step].size(), b[step].size());
    if (prefill_requantized) {
      double diff = 0, norm = 0;
      for (size_t j = 0; j < a[step].size(); ++j) diff += (b[step][j] - a[step][j]) * (b[step][j] - a[step][j]), norm += a[step][j] * a[step][j];
      EXPECT_LT(std::sqrt(diff / norm), 0.05);
      continue;
    }
    for (size_t j = 0; j < a[step].size(); ++j) ASSERT_NEAR(b[step][j], a[step][j], 1e-3f * (std::fabs(a[step][j]) + 1)) << j;
  }
}

// Repacked and moved weights (quant/repack.h, kernels/weight_memory.h) give the logits of the
// stored ones.
TEST_P(RandomQuantized, RepackedWeightsGiveTheSameLogits) {
  ModelConfig config = k_quant_config();
  auto stored = DeepSeekModel::random(config, QuantPlan(GetParam(), {}, config.num_hidden_layers), 7);
  auto repacked = DeepSeekModel::random(config, QuantPlan(GetParam(), {}, config.num_hidden_layers), 7);
  const bool vnni = quant::active_dot_isa() == quant::DotIsa::Avx512Vnni;
  const void* before = repacked->weights().layers[1].attn.k_b.data;
  const DeepSeekModel::Placement placed = repacked->repack_weights();
  EXPECT_EQ(placed.repacked_bytes > 0, vnni);
  EXPECT_EQ(placed.moved_bytes > 0, WeightMemory::huge_pages());
  const LayerWeights& layer = repacked->weights().layers[1];
  if (vnni) {
    const bool q8 = GetParam() == "q8_0";
    EXPECT_EQ(layer.moe->experts[3].gate.dtype, q8 ? DType::Q8_0_R16 : DType::Q4_K_R16);
    EXPECT_EQ(layer.attn.o.dtype, q8 ? DType::Q8_0_R16 : DType::Q5_0_R16);  // Q4_K_M: rows of 64 values fall back to Q5_0
  }
  if (placed.moved_bytes > 0) {
    EXPECT_EQ(layer.attn.k_b.dtype, DType::F16);  // rows of 16 values: moved as they are
    EXPECT_NE(layer.attn.k_b.data, before);
  }
  const DeepSeekModel::Placement again = repacked->repack_weights();
  EXPECT_EQ(again.repacked_bytes + again.moved_bytes, 0);
  expect_same_logits(*stored, *repacked, vnni && GetParam() == "q4_k_m");
}

// Random weights give their memory back as they are placed, so a budget smaller than the
// weights places them all, in rounds that each stay within it. A budget of 0 places nothing.
TEST_P(RandomQuantized, PlacementStaysWithinItsBudget) {
  ModelConfig config = k_quant_config();
  auto stored = DeepSeekModel::random(config, QuantPlan(GetParam(), {}, config.num_hidden_layers), 7);
  auto whole = DeepSeekModel::random(config, QuantPlan(GetParam(), {}, config.num_hidden_layers), 7);
  auto rounds = DeepSeekModel::random(config, QuantPlan(GetParam(), {}, config.num_hidden_layers), 7);
  const DeepSeekModel::Placement none = stored->repack_weights(int64_t{0});
  EXPECT_EQ(none.repacked_bytes + none.moved_bytes, 0);
  const DeepSeekModel::Placement all = whole->repack_weights();
  const int64_t budget = int64_t{1} << 20;
  const DeepSeekModel::Placement placed = rounds->repack_weights(budget);
  EXPECT_EQ(placed.repacked_bytes, all.repacked_bytes);
  EXPECT_EQ(placed.moved_bytes, all.moved_bytes);
  EXPECT_LE(placed.peak_bytes, budget);
  if (quant::active_dot_isa() == quant::DotIsa::Avx512Vnni || WeightMemory::huge_pages()) {
    EXPECT_GT(placed.repacked_bytes + placed.moved_bytes, 2 * budget);
    EXPECT_GT(placed.peak_bytes, budget / 2);
  }
  if (quant::active_dot_isa() == quant::DotIsa::Avx512Vnni) {
    const Weight& last_gate = rounds->weights().layers.back().moe->experts.back().gate;
    EXPECT_EQ(last_gate.dtype, GetParam() == "q8_0" ? DType::Q8_0_R16 : DType::Q4_K_R16);
  }
  expect_same_logits(*stored, *rounds, quant::active_dot_isa() == quant::DotIsa::Avx512Vnni && GetParam() == "q4_k_m");
}

INSTANTIATE_TEST_SUITE_P(Types, RandomQuantized, ::testing::Values("q8_0", "q4_k_m"));

}  // namespace
}  // namespace dseek
