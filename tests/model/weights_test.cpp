#include "model/weights.h"

#include <gtest/gtest.h>

#include "model/deepseek.h"
#include "model/random_weights.h"
#include "util/error.h"

namespace dseek {
namespace {

ModelConfig tiny() { return load_model_config(std::string(DSEEK_FIXTURES) + "/models/v3-tiny-fp8"); }

std::string bind_error(const ModelConfig& config, const TensorLookup& lookup) {
  try {
    bind_weights(config, lookup, "test-model");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Weights, RandomWeightsBindEveryTensorInEveryFormat) {
  ModelConfig config = tiny();
  config.num_nextn_predict_layers = 0;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3}) {
    config.fp8_weights = dtype == DType::F8_E4M3;
    RandomWeights source(config, dtype, 7);
    ModelWeights w = bind_weights(
        config, [&](const std::string& n, const std::vector<int64_t>& s) { return source.get(n, s); }, "random");
    EXPECT_EQ(w.layers.size(), 4u);
    EXPECT_TRUE(w.layers[0].mlp.has_value());
    ASSERT_TRUE(w.layers[1].moe.has_value());
    EXPECT_EQ(w.layers[1].moe->experts.size(), 16u);
    EXPECT_EQ(w.layers[1].moe->score_bias.size(), 16u);
    EXPECT_EQ(w.layers[1].attn.q_b.dtype, dtype);
    EXPECT_EQ(w.layers[1].attn.q_b.block_scale != nullptr, dtype == DType::F8_E4M3);
  }
}

TEST(Weights, CheckpointMtpLayerIsBound) {
  auto model = DeepSeekModel::load(std::string(DSEEK_FIXTURES) + "/models/v3-tiny-fp8");
  ASSERT_EQ(model->weights().mtp.size(), 1u);
  EXPECT_EQ(model->weights().mtp[0].eh_proj.cols, 2 * model->config().hidden_size);
  EXPECT_TRUE(model->weights().mtp[0].block.moe.has_value());
}

TEST(Weights, BadTensorsAreErrorsNamingTheTensor) {
  ModelConfig config = tiny();
  config.num_nextn_predict_layers = 0;
  RandomWeights source(config, DType::F8_E4M3, 7);
  const std::string target = "model.layers.2.self_attn.kv_b_proj.weight";

  auto without = [&](const std::string& missing) {
    return [&, missing](const std::string& n, const std::vector<int64_t>& s) -> const TensorView* {
      const TensorView* t = source.get(n, s);
      return n == missing ? nullptr : t;
    };
  };
  std::string message = bind_error(config, without(target));
  EXPECT_NE(message.find("missing tensor " + target), std::string::npos) << message;
  message = bind_error(config, without(target + "_scale_inv"));
  EXPECT_NE(message.find("missing tensor " + target + "_scale_inv"), std::string::npos) << message;

  TensorView reshaped;
  message = bind_error(config, [&](const std::string& n, const std::vector<int64_t>& s) -> const TensorView* {
    const TensorView* t = source.get(n, s);
    if (n != target) return t;
    reshaped = *t;
    reshaped.shape = {s[1], s[0]};
    return &reshaped;
  });
  EXPECT_NE(message.find(target + " has shape [64, 256], expected [256, 64]"), std::string::npos) << message;

  TensorView retyped;
  message = bind_error(config, [&](const std::string& n, const std::vector<int64_t>& s) -> const TensorView* {
    const TensorView* t = source.get(n, s);
    if (n != target) return t;
    retyped = *t;
    retyped.dtype = DType::I32;
    return &retyped;
  });
  EXPECT_NE(message.find(target + " has dtype I32"), std::string::npos) << message;
}

}  // namespace
}  // namespace dseek
