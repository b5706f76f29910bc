// The forward pass against DeepSeek's reference implementation (../shared/fixtures/models).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <list>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "model/deepseek.h"

namespace dseek {
namespace {

struct Reference {
  explicit Reference(const std::string& dir) : file(dir + "/reference.safetensors") {}
  const TensorView& get(const std::string& name) const {
    for (const TensorView& t : file.tensors())
      if (t.name == name) return t;
    throw std::runtime_error("reference has no " + name);
  }
  std::vector<int32_t> ids(const std::string& name) const {
    const TensorView& t = get(name);
    const int32_t* p = static_cast<const int32_t*>(t.data);
    return {p, p + t.numel()};
  }
  const float* floats(const std::string& name) const { return static_cast<const float*>(get(name).data); }
  SafetensorsFile file;
};

double relative_l2(const float* got, const float* want, int64_t n) {
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return std::sqrt(diff / norm);
}

int64_t argmax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

// Puts back the F32 cache and the activations' setting that a test changes.
struct RestoreCacheAndActivations {
  DeepSeekModel& model;
  bool bf16 = bf16_activations();
  ~RestoreCacheAndActivations() {
    model.set_cache_dtype(DType::F32);
    set_bf16_activations(bf16);
  }
};

class ReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::string(DSEEK_FIXTURES) + "/models/" + GetParam();
    model_ = DeepSeekModel::load(dir_);
    reference_ = std::make_unique<Reference>(dir_);
  }
  int64_t vocab() const { return model_->config().vocab_size; }

  // One prefill of a fresh sequence; logits at every position.
  std::vector<float> prefill(const std::vector<int32_t>& tokens) const {
    KvCache cache = model_->make_cache(tokens.size());
    int seq = cache.add_sequence();
    cache.reserve(seq, tokens.size());
    Batch batch;
    for (size_t t = 0; t < tokens.size(); ++t) batch.add(tokens[t], t, seq, true);
    return model_->forward(batch, cache);
  }

  // The last token's logits of a prompt in one pass (expanded attention), then of the prompt
  // but its last token followed by that token decoded (absorbed).
  std::pair<std::vector<float>, std::vector<float>> last_logits_both_ways(const std::vector<int32_t>& tokens) const {
    const auto n = static_cast<int64_t>(tokens.size());
    const int64_t page = KvCache::kDefaultPageTokens;
    KvCache cache = model_->make_cache(2 * ((n + page - 1) / page) * page);  // a sequence starts a page
    int whole = cache.add_sequence(), split = cache.add_sequence();
    cache.reserve(whole, n);
    cache.reserve(split, n);
    Batch batch;
    for (int64_t t = 0; t < n; ++t) batch.add(tokens[t], t, whole, t == n - 1);
    std::vector<float> one_pass = model_->forward(batch, cache);
    batch.clear();
    for (int64_t t = 0; t < n - 1; ++t) batch.add(tokens[t], t, split, false);
    if (batch.size() > 0) model_->forward(batch, cache);
    batch.clear();
    batch.add(tokens[n - 1], n - 1, split, true);
    return {one_pass, model_->forward(batch, cache)};
  }

  // A prompt longer than the fixtures': p3's tokens repeated to n. Beyond 512 tokens, a head
  // lifts the cache in more than one block.
  std::vector<int32_t> long_prompt(size_t n) const {
    std::vector<int32_t> base = reference_->ids("p3.tokens"), tokens;
    while (tokens.size() < n) tokens.insert(tokens.end(), base.begin(), base.end());
    tokens.resize(n);
    return tokens;
  }

  // Rebuilds every layer's kv_b as GGUF's per-head k_b (transposed) and v_b, in F32.
  void split_kv_b() {
    const ModelConfig& c = model_->config();
    const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, rank = c.kv_lora_rank;
    ModelWeights& w = const_cast<ModelWeights&>(model_->weights());
    for (LayerWeights& layer : w.layers) {
      std::vector<float> kv_b(heads * (nope + v) * rank), k_b(heads * rank * nope), v_b(heads * v * rank);
      dequantize_rows(layer.attn.kv_b, 0, heads * (nope + v), kv_b.data());
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t d = 0; d < nope; ++d)
          for (int64_t r = 0; r < rank; ++r) k_b[(h * rank + r) * nope + d] = kv_b[(h * (nope + v) + d) * rank + r];
        std::copy_n(kv_b.data() + (h * (nope + v) + nope) * rank, v * rank, v_b.data() + h * v * rank);
      }
      auto f32 = [](const std::vector<float>& data, int64_t rows, int64_t cols) {
        Weight weight;
        weight.rows = rows;
        weight.cols = cols;
        weight.row_stride = cols;
        weight.data = data.data();
        return weight;
      };
      split_storage_.push_back(std::move(k_b));
      layer.attn.k_b = f32(split_storage_.back(), heads * rank, nope);
      split_storage_.push_back(std::move(v_b));
      layer.attn.v_b = f32(split_storage_.back(), heads * v, rank);
      layer.attn.kv_b = Weight{};
    }
  }

  // Prefills each fixture prompt alone; check(prompt, position, logits, reference logits).
  template <typename Check>
  void prefill_prompts(Check check) const {
    for (int k = 0; k < 4; ++k) {
      std::string p = fmt::format("p{}", k);
      std::vector<int32_t> tokens = reference_->ids(p + ".tokens");
      std::vector<float> logits = prefill(tokens);
      const float* want = reference_->floats(p + ".logits");
      for (size_t t = 0; t < tokens.size(); ++t) check(p, t, logits.data() + t * vocab(), want + t * vocab());
    }
  }

  // Decodes each fixture prompt's reference greedy tokens one at a time after its prompt (all
  // but the last token prefilled); check(prompt, step, logits, reference logits) at every step.
  template <typename Check>
  void decode_greedy_paths(Check check) const {
    for (int k = 0; k < 4; ++k) {
      const std::string p = fmt::format("p{}", k);
      std::vector<int32_t> tokens = reference_->ids(p + ".tokens"), greedy = reference_->ids(p + ".greedy");
      const float* want = reference_->floats(p + ".greedy_logits");
      KvCache cache = model_->make_cache(tokens.size() + greedy.size());
      int seq = cache.add_sequence();
      cache.reserve(seq, tokens.size() + greedy.size());
      Batch batch;
      for (size_t t = 0; t + 1 < tokens.size(); ++t) batch.add(tokens[t], t, seq, false);
      if (batch.size() > 0) model_->forward(batch, cache);
      int32_t next = tokens.back();
      for (size_t g = 0; g < greedy.size(); ++g) {
        batch.clear();
        batch.add(next, static_cast<int64_t>(tokens.size() + g) - 1, seq, true);
        check(p, g, model_->forward(batch, cache).data(), want + g * vocab());
        next = greedy[g];
      }
    }
  }

  std::string dir_;
  std::list<std::vector<float>> split_storage_;  // the weights split_kv_b() made
  std::unique_ptr<DeepSeekModel> model_;
  std::unique_ptr<Reference> reference_;
};

TEST_P(ReferenceTest, PrefillLogitsMatchAtEveryPosition) {
  prefill_prompts([&](const std::string& p, size_t t, const float* logits, const float* want) {
    EXPECT_LE(relative_l2(logits, want, vocab()), 1e-4) << p << " position " << t;
    EXPECT_EQ(argmax(logits, vocab()), argmax(want, vocab())) << p << " position " << t;
  });
}

// Prefill's experts run whole on one thread when they have at most a thread's share of the
// tokens, else split over the threads: one thread, a mix (v2-lite-tiny's 2 of 8 experts per
// token on 8 threads) and all split (16 threads).
TEST_P(ReferenceTest, PrefillMatchesOnAnyNumberOfThreads) {
  struct RestoreThreads {
    ~RestoreThreads() { ThreadPool::set_global_threads(physical_cores()); }
  } restore;
  for (int threads : {1, 8, 16}) {
    ThreadPool::set_global_threads(threads);
    prefill_prompts([&](const std::string& p, size_t t, const float* logits, const float* want) {
      EXPECT_LE(relative_l2(logits, want, vocab()), 1e-4) << p << " position " << t << ", " << threads << " threads";
      EXPECT_EQ(argmax(logits, vocab()), argmax(want, vocab())) << p << " position " << t << ", " << threads << " threads";
    });
  }
}

TEST_P(ReferenceTest, IncrementalGreedyDecodingMatches) {
  decode_greedy_paths([&](const std::string& p, size_t g, const float* logits, const float* want) {
    EXPECT_LE(relative_l2(logits, want, vocab()), 1e-4) << p << " step " << g;
    EXPECT_EQ(argmax(logits, vocab()), argmax(want, vocab())) << p << " step " << g;
  });
}

TEST_P(ReferenceTest, OnePassPrefillAgreesWithPrefillThenDecode) {
  const auto [one_pass, stepped] = last_logits_both_ways(reference_->ids("p2.tokens"));
  EXPECT_LE(relative_l2(stepped.data(), one_pass.data(), vocab()), 1e-5);
}

// Beyond the fixtures' lengths: a prompt over three cache pages, prefilled in chunks that end
// inside key blocks and pages, gives at every position the logits of one pass over a cache
// of a single page, in both forms of kv_b. Chunks of few tokens (the last one a decode step)
// split the keys over the threads, the others split the tokens.
TEST_P(ReferenceTest, LongPromptOverPagesAgreesWhenChunked) {
  const std::vector<int32_t> tokens = long_prompt(600);
  const int64_t n = static_cast<int64_t>(tokens.size());
  const ModelConfig& c = model_->config();
  for (bool split : {false, true}) {
    SCOPED_TRACE(split ? "split kv_b" : "kv_b");
    if (split) split_kv_b();
    KvCache one_page(c.num_hidden_layers, c.kv_lora_rank + c.qk_rope_head_dim, n, n);
    int whole_seq = one_page.add_sequence();
    one_page.reserve(whole_seq, n);
    Batch all;
    for (int64_t t = 0; t < n; ++t) all.add(tokens[t], t, whole_seq, true);
    std::vector<float> whole = model_->forward(all, one_page);
    KvCache cache = model_->make_cache(n);
    ASSERT_LT(cache.page_tokens(), n / 2);
    int seq = cache.add_sequence();
    cache.reserve(seq, n);
    int64_t done = 0;
    for (int64_t chunk : {250, 9, 270, 70, 1}) {
      Batch batch;
      for (int64_t t = done; t < done + chunk; ++t) batch.add(tokens[t], t, seq, true);
      std::vector<float> logits = model_->forward(batch, cache);
      for (int64_t t = done; t < done + chunk; ++t)
        ASSERT_LE(relative_l2(logits.data() + (t - done) * vocab(), whole.data() + t * vocab(), vocab()), 1e-5)
            << "position " << t;
      done += chunk;
    }
    ASSERT_EQ(done, n);
  }
}

// A KV cache in half precision rounds each latent and rope key to 11 (F16) or 8 (BF16)
// significant bits. Judged as Bf16ActivationsStayNearTheReference judges rounding: the median
// relative L2 over positions and top-1 agreement, for the prompts in one pass (expanded
// attention) and the greedy tokens decoded one at a time after them (absorbed), with attention
// converting the cache to F32 or (BF16 activations and cache) multiplying it as it is.
TEST_P(ReferenceTest, HalfPrecisionCachesStayNearTheReference) {
  const RestoreCacheAndActivations restore{*model_};
  struct Case {
    DType cache;
    bool bf16_activations;
    double most_median;
  };
  for (Case run : {Case{DType::F16, false, 1e-3}, Case{DType::BF16, false, 2e-2}, Case{DType::BF16, true, 2e-2}}) {
    if (run.bf16_activations && (active_isa() != Isa::Avx512 || !cpu_features().avx512bf16)) continue;
    model_->set_cache_dtype(run.cache);
    set_bf16_activations(run.bf16_activations);
    std::vector<double> l2;
    int same_top1 = 0;
    auto add = [&](const float* logits, const float* want) {
      l2.push_back(relative_l2(logits, want, vocab()));
      same_top1 += argmax(logits, vocab()) == argmax(want, vocab());
    };
    prefill_prompts([&](const std::string&, size_t, const float* logits, const float* want) { add(logits, want); });
    ASSERT_EQ(model_->make_cache(1).dtype(), run.cache);
    decode_greedy_paths([&](const std::string&, size_t, const float* logits, const float* want) { add(logits, want); });
    std::nth_element(l2.begin(), l2.begin() + l2.size() / 2, l2.end());
    const double median = l2[l2.size() / 2];
    const std::string name = fmt::format("{} cache, {} activations", dtype_name(run.cache), run.bf16_activations ? "BF16" : "F32");
    std::printf("%s: median relative L2 %.2e, top-1 agreement %d of %zu\n", name.c_str(), median, same_top1, l2.size());
    EXPECT_LE(median, run.most_median) << name;
    EXPECT_GT(median, 3e-5) << name << ": the cache did not round (the exact path is within 1e-5)";
    EXPECT_GE(same_top1, 0.9 * l2.size()) << name;
  }
}

// With BF16 activations over a BF16 cache, the expanded form multiplies keys and values rounded
// to BF16, in both forms of kv_b: the last token's logits stay within 2e-2 relative L2 of the
// absorbed form's (at most 1e-2 measured), which a key left out (0.3 and 0.7) is not. The
// fixture prompts, and one of 600 tokens, which heads lift in two blocks.
TEST_P(ReferenceTest, Bf16ExpandedAttentionAgreesWithAbsorbed) {
  if (active_isa() != Isa::Avx512 || !cpu_features().avx512bf16) GTEST_SKIP() << "no AVX512-BF16 kernels";
  const RestoreCacheAndActivations restore{*model_};
  model_->set_cache_dtype(DType::BF16);
  set_bf16_activations(true);
  std::vector<std::vector<int32_t>> prompts;
  for (int k = 1; k < 4; ++k) prompts.push_back(reference_->ids(fmt::format("p{}.tokens", k)));  // p0 is a single token
  prompts.push_back(long_prompt(600));
  for (bool split : {false, true}) {
    if (split) split_kv_b();
    for (const std::vector<int32_t>& prompt : prompts) {
      const auto [one_pass, stepped] = last_logits_both_ways(prompt);
      const double l2 = relative_l2(stepped.data(), one_pass.data(), vocab());
      const std::string what = fmt::format("{} tokens{}", prompt.size(), split ? ", split kv_b" : "");
      EXPECT_LE(l2, 2e-2) << what;
      EXPECT_GT(l2, 1e-5) << what << ": nothing was rounded";
    }
  }
}

TEST_P(ReferenceTest, MixedBatchOfSequencesMatchesEachAlone) {
  // A continuous-batching step: one sequence decoding while another prefills.
  std::vector<int32_t> a = reference_->ids("p1.tokens"), b = reference_->ids("p2.tokens");
  KvCache cache = model_->make_cache(2 * 256);
  int sa = cache.add_sequence(), sb = cache.add_sequence();
  cache.reserve(sa, a.size());
  cache.reserve(sb, b.size());
  Batch batch;
  for (size_t t = 0; t + 1 < a.size(); ++t) batch.add(a[t], t, sa, false);
  model_->forward(batch, cache);
  batch.clear();
  batch.add(a.back(), a.size() - 1, sa, true);
  for (size_t t = 0; t < b.size(); ++t) batch.add(b[t], t, sb, true);
  std::vector<float> logits = model_->forward(batch, cache);
  EXPECT_LE(relative_l2(logits.data(), reference_->floats("p1.logits") + (a.size() - 1) * vocab(), vocab()), 1e-4);
  for (size_t t = 0; t < b.size(); ++t)
    EXPECT_LE(relative_l2(logits.data() + (t + 1) * vocab(), reference_->floats("p2.logits") + t * vocab(), vocab()), 1e-4)
        << "position " << t;
}

// The last block carries on only the tokens whose logits are wanted; scattered over two
// sequences, they get the logits a pass wanting all of them gives, and the cache the pass
// leaves is whole: the next token of each sequence decodes to the same logits.
TEST_P(ReferenceTest, WantingSomeLogitsGivesThoseOfAFullPass) {
  std::vector<int32_t> a = reference_->ids("p1.tokens"), b = reference_->ids("p2.tokens");
  KvCache cache = model_->make_cache(4 * 256);
  const int full_a = cache.add_sequence(), full_b = cache.add_sequence();
  const int some_a = cache.add_sequence(), some_b = cache.add_sequence();
  for (int s : {full_a, some_a}) cache.reserve(s, a.size() + 1);
  for (int s : {full_b, some_b}) cache.reserve(s, b.size() + 1);
  auto prompts = [&](int sa, int sb, auto want) {
    Batch batch;
    for (size_t t = 0; t < a.size(); ++t) batch.add(a[t], t, sa, want(batch.size()));
    for (size_t t = 0; t < b.size(); ++t) batch.add(b[t], t, sb, want(batch.size()));
    return batch;
  };
  auto wanted = [](int64_t row) { return row % 3 == 1; };
  const std::vector<float> full = model_->forward(prompts(full_a, full_b, [](int64_t) { return true; }), cache);
  const std::vector<float> some = model_->forward(prompts(some_a, some_b, wanted), cache);
  const auto rows = static_cast<int64_t>(a.size() + b.size());
  ASSERT_EQ(static_cast<int64_t>(some.size()), (rows + 1) / 3 * vocab());
  for (int64_t row = 0, i = 0; row < rows; ++row)
    if (wanted(row)) {
      EXPECT_LE(relative_l2(some.data() + i * vocab(), full.data() + row * vocab(), vocab()), 1e-5) << "row " << row;
      ++i;
    }
  Batch next;
  next.add(a[0], static_cast<int64_t>(a.size()), full_a, true);
  next.add(a[0], static_cast<int64_t>(a.size()), some_a, true);
  next.add(b[0], static_cast<int64_t>(b.size()), full_b, true);
  next.add(b[0], static_cast<int64_t>(b.size()), some_b, true);
  const std::vector<float> after = model_->forward(next, cache);
  EXPECT_LE(relative_l2(after.data() + vocab(), after.data(), vocab()), 1e-6);
  EXPECT_LE(relative_l2(after.data() + 3 * vocab(), after.data() + 2 * vocab(), vocab()), 1e-6);
}

TEST_P(ReferenceTest, SplitKvBFormOfGgufFilesComputesTheSame) {
  split_kv_b();
  std::vector<int32_t> tokens = reference_->ids("p2.tokens");
  std::vector<float> logits = prefill(tokens);
  const float* want = reference_->floats("p2.logits");
  for (size_t t = 0; t < tokens.size(); ++t)
    EXPECT_LE(relative_l2(logits.data() + t * vocab(), want + t * vocab(), vocab()), 1e-4) << "position " << t;
}

// The opt-in BF16 activations (dseek serve's default where the CPU has them) stay near the
// float32 reference: 0.4% (v2-lite-tiny) and 1.2% (v3-tiny-fp8) relative, median over positions,
// as 1e-3 per product adds up over the layers. Routing margins in these random
// models are as small as 2e-5, so at some positions an expert changes, and the logits with it.
TEST_P(ReferenceTest, Bf16ActivationsStayNearTheReference) {
  if (active_isa() != Isa::Avx512 || !cpu_features().avx512bf16) GTEST_SKIP() << "no AVX512-BF16 kernels";
  struct Restore {
    bool saved = bf16_activations();
    ~Restore() { set_bf16_activations(saved); }
  } restore;
  set_bf16_activations(true);
  std::vector<double> l2;
  int same_top1 = 0;
  prefill_prompts([&](const std::string&, size_t, const float* logits, const float* want) {
    l2.push_back(relative_l2(logits, want, vocab()));
    same_top1 += argmax(logits, vocab()) == argmax(want, vocab());
  });
  std::nth_element(l2.begin(), l2.begin() + l2.size() / 2, l2.end());
  const double median = l2[l2.size() / 2];
  std::printf("bf16 activations: median relative L2 %.2e, top-1 agreement %d of %zu\n", median, same_top1, l2.size());
  EXPECT_LE(median, 2e-2);
  EXPECT_GT(median, 1e-4);  // the setting took effect: the exact path is within 1e-5
  EXPECT_GE(same_top1, 0.9 * l2.size());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceTest, ::testing::Values("v2-lite-tiny", "v3-tiny-fp8"));

}  // namespace
}  // namespace dseek
