// Perplexity and KL divergence on the fixture models.
#include "tools/perplexity.h"

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "../cli/cli_process.h"
#include "../io/io_test_util.h"
#include "fixture_reference.h"
#include "tools/quantize.h"
#include "util/error.h"

namespace dseek {
namespace {

using io_test::TempDir;
using tools_test::model_dir;

std::vector<int32_t> reference_tokens(const std::string& dir, const std::string& name) {
  SafetensorsFile ref(dir + "/reference.safetensors");
  const TensorView& t = tools_test::find(ref, name);
  const int32_t* p = static_cast<const int32_t*>(t.data);
  return {p, p + t.numel()};
}

// One chunk spanning the whole 150-token prompt: the second half's NLL from the reference logits.
TEST(Perplexity, OneChunkMatchesReferenceLogits) {
  std::string dir = model_dir("v3-tiny-fp8");
  auto model = DeepSeekModel::load(dir);
  std::vector<int32_t> tokens = reference_tokens(dir, "p3.tokens");
  int64_t n = static_cast<int64_t>(tokens.size()), vocab = model->config().vocab_size;
  SafetensorsFile ref(dir + "/reference.safetensors");
  const float* logits = static_cast<const float*>(tools_test::find(ref, "p3.logits").data);
  double nll = 0;
  for (int64_t t = n / 2; t < n - 1; ++t) {
    const float* x = logits + t * vocab;
    double max = *std::max_element(x, x + vocab), sum = 0;
    for (int64_t i = 0; i < vocab; ++i) sum += std::exp(x[i] - max);
    nll += max + std::log(sum) - x[tokens[t + 1]];
  }
  nll /= static_cast<double>(n - 1 - n / 2);
  PerplexityOptions o;
  o.ctx = n;
  PerplexityResult r = perplexity(*model, tokens, o);
  EXPECT_EQ(r.chunks, 1);
  EXPECT_EQ(r.scored, n - 1 - n / 2);
  EXPECT_NEAR(r.mean_nll, nll, 1e-4 * nll);
  EXPECT_NEAR(r.ppl(), std::exp(nll), 1e-3 * std::exp(nll));
}

TEST(Perplexity, ChunksAndErrors) {
  auto model = DeepSeekModel::load(model_dir("v2-lite-tiny"));
  std::vector<int32_t> tokens = reference_tokens(model_dir("v2-lite-tiny"), "p3.tokens");
  PerplexityOptions o;
  o.ctx = 32;
  int64_t chunks_seen = 0;
  PerplexityResult r = perplexity(*model, tokens, o, [&](int64_t c, const PerplexityResult&) { chunks_seen = c; });
  EXPECT_EQ(r.chunks, 150 / 32);
  EXPECT_EQ(chunks_seen, r.chunks);
  EXPECT_EQ(r.scored, r.chunks * 15);
  EXPECT_GT(r.ppl(), 1.0);
  o.ctx = 151;
  try {
    perplexity(*model, tokens, o);
    ADD_FAILURE() << "a chunk longer than the input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ctx"), std::string::npos) << e.what();
  }
}

TEST(Perplexity, KlOfAModelAgainstItselfIsZero) {
  auto model = DeepSeekModel::load(model_dir("v3-tiny-fp8"));
  std::vector<int32_t> tokens = reference_tokens(model_dir("v3-tiny-fp8"), "p3.tokens");
  PerplexityOptions o;
  o.ctx = 50;
  KlResult r = kl_divergence(*model, *model, tokens, o);
  EXPECT_EQ(r.chunks, 3);
  EXPECT_EQ(r.positions, 3 * 24);
  EXPECT_LT(r.max_kl, 1e-9);
  EXPECT_EQ(r.top1, 1.0);
  EXPECT_EQ(r.base.mean_nll, r.quant.mean_nll);
}

TEST(Perplexity, KlOfQ8_0IsSmallAndPositive) {
  TempDir tmp;
  std::string dir = model_dir("v3-tiny-fp8");
  QuantizeOptions q;
  q.type = "Q8_0";
  quantize_model(dir, tmp.file("q8.gguf"), q);
  auto base = DeepSeekModel::load(dir);
  auto quant = DeepSeekModel::load_gguf(tmp.file("q8.gguf"));
  PerplexityOptions o;
  o.ctx = 50;
  KlResult r = kl_divergence(*base, *quant, reference_tokens(dir, "p3.tokens"), o);
  // Small next to the fixture's entropy (~7 nats); top-1 is fragile on its near-flat logits.
  EXPECT_GT(r.mean_kl, 0);
  EXPECT_LT(r.mean_kl, 0.05);
  EXPECT_GE(r.top1, 0.7);
}

TEST(Perplexity, CommandLine) {
  TempDir tmp;
  std::string dir = model_dir("v2-chat-tiny");
  {
    std::ofstream text(tmp.file("text.txt"));
    for (int i = 0; i < 40; ++i) text << "The quick brown fox jumps over the lazy dog. ";
  }
  auto ppl = cli_test::run_dseek({"perplexity", dir, "--file", tmp.file("text.txt"), "--ctx", "64"});
  ASSERT_EQ(ppl.status, 0) << ppl.err;
  EXPECT_NE(ppl.out.find("Final estimate: PPL = "), std::string::npos) << ppl.out;
  {
    std::ofstream ids(tmp.file("ids.txt"));
    for (int32_t id : reference_tokens(model_dir("v2-lite-tiny"), "p3.tokens")) ids << id << ' ';
  }
  auto kl = cli_test::run_dseek({"kl-divergence", model_dir("v2-lite-tiny"), model_dir("v2-lite-tiny"), "--tokens",
                                 tmp.file("ids.txt"), "--ctx", "50"});
  ASSERT_EQ(kl.status, 0) << kl.err;
  EXPECT_NE(kl.out.find("top-1 agreement: 100.00%"), std::string::npos) << kl.out;
  auto no_tokenizer = cli_test::run_dseek({"perplexity", model_dir("v2-lite-tiny"), "--file", tmp.file("text.txt")});
  EXPECT_EQ(no_tokenizer.status, 1);
  EXPECT_NE(no_tokenizer.err.find("--tokenizer"), std::string::npos) << no_tokenizer.err;
}

}  // namespace
}  // namespace dseek
