// The scheduler against the reference: continuous batching and chunked prefill must not
// change a single greedy token.
#include "runtime/engine.h"

#include <limits>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "util/error.h"

namespace dseek {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = std::string(DSEEK_FIXTURES) + "/models/v2-lite-tiny";
    model_ = DeepSeekModel::load(dir).release();
    reference_ = new SafetensorsFile(dir + "/reference.safetensors");
  }
  static void TearDownTestSuite() {
    delete model_;
    delete reference_;
  }

  static std::vector<int32_t> ids(const std::string& name) {
    for (const TensorView& t : reference_->tensors())
      if (t.name == name) {
        const int32_t* p = static_cast<const int32_t*>(t.data);
        return {p, p + t.numel()};
      }
    throw std::runtime_error("no tensor " + name);
  }

  struct Result {
    std::vector<int32_t> tokens;
    FinishReason finish = FinishReason::None;
    int events_after_finish = 0;
  };

  static GenerationRequest greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
    GenerationRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    return r;
  }

  static TokenCallback collect(Result& result) {
    return [&result](const TokenEvent& e) {
      if (result.finish != FinishReason::None) ++result.events_after_finish;
      if (e.has_token) result.tokens.push_back(e.token);
      result.finish = e.finish;
    };
  }

  static DeepSeekModel* model_;
  static SafetensorsFile* reference_;
};

DeepSeekModel* EngineTest::model_ = nullptr;
SafetensorsFile* EngineTest::reference_ = nullptr;

TEST_F(EngineTest, ConcurrentRequestsWithChunkedPrefillMatchReferenceGreedy) {
  EngineOptions options;
  options.max_sequences = 4;
  options.context = 256;
  options.step_tokens = 16;  // the 150-token prompt prefills over many steps while others decode
  Engine engine(*model_, nullptr, options);
  std::vector<Result> results(4);
  for (int k = 0; k < 4; ++k) {
    std::string p = fmt::format("p{}", k);
    engine.submit(greedy(ids(p + ".tokens"), static_cast<int64_t>(ids(p + ".greedy").size())), collect(results[k]));
  }
  engine.run_until_idle();
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(results[k].tokens, ids(fmt::format("p{}.greedy", k))) << "prompt " << k;
    EXPECT_EQ(results[k].finish, FinishReason::Length);
    EXPECT_EQ(results[k].events_after_finish, 0);
  }
}

TEST_F(EngineTest, RequestsWaitForKvBudgetAndAllComplete) {
  EngineOptions options;
  options.max_sequences = 4;
  options.context = 256;
  options.kv_tokens = 256;  // one page: room for one sequence at a time
  Engine engine(*model_, nullptr, options);
  std::vector<Result> results(3);
  for (int k = 0; k < 3; ++k) engine.submit(greedy(ids("p1.tokens"), 5), collect(results[k]));
  EXPECT_EQ(engine.stats().waiting, 3);
  engine.run_until_idle();
  std::vector<int32_t> want = ids("p1.greedy");
  want.resize(5);
  for (const Result& r : results) EXPECT_EQ(r.tokens, want);
  EXPECT_EQ(engine.stats().kv_used_tokens, 0);
}

TEST_F(EngineTest, StopTokenEndsGenerationWithoutEmittingIt) {
  std::vector<int32_t> greedy_ids = ids("p2.greedy");
  Engine engine(*model_, nullptr, EngineOptions{});
  GenerationRequest request = greedy(ids("p2.tokens"), 20);
  request.stop_tokens = {greedy_ids[3]};
  Result result;
  engine.submit(request, collect(result));
  engine.run_until_idle();
  auto first = std::find(greedy_ids.begin(), greedy_ids.end(), greedy_ids[3]);
  EXPECT_EQ(result.tokens, std::vector<int32_t>(greedy_ids.begin(), first));
  EXPECT_EQ(result.finish, FinishReason::Stop);
}

TEST_F(EngineTest, CancelledRequestGetsOneFinalEvent) {
  Engine engine(*model_, nullptr, EngineOptions{});
  Result result;
  uint64_t id = engine.submit(greedy(ids("p1.tokens"), 10), collect(result));
  engine.cancel(id);
  engine.run_until_idle();
  EXPECT_TRUE(result.tokens.empty());
  EXPECT_EQ(result.finish, FinishReason::Cancelled);
  EXPECT_EQ(engine.stats().kv_used_tokens, 0);
}

TEST_F(EngineTest, BackgroundThreadServesAndStopCancels) {
  Engine engine(*model_, nullptr, EngineOptions{});
  engine.start();
  std::mutex m;
  std::condition_variable cv;
  Result done, endless;
  bool finished = false;
  engine.submit(greedy(ids("p0.tokens"), 3), [&](const TokenEvent& e) {
    std::lock_guard lock(m);
    collect(done)(e);
    if (e.finish != FinishReason::None) {
      finished = true;
      cv.notify_all();
    }
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return finished; });
  }
  EXPECT_EQ(done.finish, FinishReason::Length);
  EXPECT_EQ(done.tokens.size(), 3u);
  engine.submit(greedy(ids("p0.tokens"), -1), collect(endless));
  engine.stop();
  EXPECT_EQ(endless.finish, FinishReason::Cancelled);
}

TEST_F(EngineTest, PromptLongerThanContextIsAnError) {
  EngineOptions options;
  options.context = 100;
  Engine engine(*model_, nullptr, options);
  EXPECT_THROW(engine.submit(greedy(ids("p3.tokens"), 1), [](const TokenEvent&) {}), Error);
  EXPECT_THROW(engine.submit(greedy({}, 1), [](const TokenEvent&) {}), Error);
  EXPECT_THROW(engine.submit(greedy({5000}, 1), [](const TokenEvent&) {}), Error);
  EXPECT_THROW(engine.submit(greedy({1, 2}, 0), [](const TokenEvent&) {}), Error);
  GenerationRequest bad_bias = greedy({1, 2}, 1);
  bad_bias.sampling.logit_bias[5000] = 1.0f;
  EXPECT_THROW(engine.submit(bad_bias, [](const TokenEvent&) {}), Error);
}

TEST_F(EngineTest, ASamplingFailureEndsOnlyThatRequest) {
  Engine engine(*model_, nullptr, EngineOptions{});
  GenerationRequest all_banned = greedy(ids("p1.tokens"), 4);
  for (int32_t t = 0; t < model_->config().vocab_size; ++t)
    all_banned.sampling.logit_bias[t] = -std::numeric_limits<float>::infinity();
  Result failed, fine;
  std::string error;
  engine.submit(all_banned, [&](const TokenEvent& e) {
    collect(failed)(e);
    error = e.error;
  });
  engine.submit(greedy(ids("p1.tokens"), 4), collect(fine));
  engine.run_until_idle();
  EXPECT_EQ(failed.finish, FinishReason::Error);
  EXPECT_TRUE(failed.tokens.empty());
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(fine.finish, FinishReason::Length);
  EXPECT_EQ(fine.tokens.size(), 4u);
}

}  // namespace
}  // namespace dseek
