#include "kernels/thread_pool.h"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace dseek {
namespace {

TEST(ThreadPool, CoversEveryIndexOnceInContiguousRanges) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 5, 64, 1001}) {
      std::vector<std::atomic<int>> hits(n);
      std::vector<std::atomic<int>> ranges_of(threads);
      pool.parallel_for(n, [&](int thread, int64_t begin, int64_t end) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        ASSERT_LT(begin, end);
        ranges_of[thread]++;
        for (int64_t i = begin; i < end; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " of " << n;
      for (auto& r : ranges_of) EXPECT_LE(r.load(), 1);
    }
  }
}

TEST(ThreadPool, ManyQuickJobsInARow) {
  // Decode issues hundreds of tiny jobs per token: every one must complete, none twice.
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int job = 0; job < 5000; ++job)
    pool.parallel_for(3, [&](int, int64_t begin, int64_t end) { sum += end - begin; });
  EXPECT_EQ(sum.load(), 3 * 5000);
}

TEST(ThreadPool, WorkersWakeAfterSleeping) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  for (int job = 0; job < 3; ++job) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin: workers sleep
    pool.parallel_for(2, [&](int, int64_t begin, int64_t end) { count += static_cast<int>(end - begin); });
  }
  EXPECT_EQ(count.load(), 6);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(3);
  std::atomic<int> inner_calls{0};
  std::atomic<int64_t> covered{0};
  pool.parallel_for(3, [&](int, int64_t, int64_t) {
    std::thread::id outer = std::this_thread::get_id();
    pool.parallel_for(10, [&](int thread, int64_t begin, int64_t end) {
      EXPECT_EQ(std::this_thread::get_id(), outer);
      EXPECT_EQ(thread, 0);
      ++inner_calls;
      covered += end - begin;
    });
  });
  EXPECT_EQ(inner_calls.load(), 3);  // one whole range per outer range
  EXPECT_EQ(covered.load(), 30);
}

TEST(ThreadPool, RethrowsAfterEveryRangeFinished) {
  ThreadPool pool(3);
  for (int thrower = 0; thrower < 3; ++thrower) {
    std::atomic<int> finished{0};
    EXPECT_THROW(pool.parallel_for(3,
                                   [&](int thread, int64_t, int64_t) {
                                     if (thread == thrower) throw std::runtime_error("boom");
                                     ++finished;
                                   }),
                 std::runtime_error);
    EXPECT_EQ(finished.load(), 2);
  }
  // The pool still works afterwards.
  std::atomic<int> count{0};
  pool.parallel_for(3, [&](int, int64_t begin, int64_t end) { count += static_cast<int>(end - begin); });
  EXPECT_EQ(count.load(), 3);
}

TEST(ThreadPool, CallersFromSeveralThreadsTakeTurns) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&] {
      for (int job = 0; job < 500; ++job)
        pool.parallel_for(8, [&](int, int64_t begin, int64_t end) { sum += end - begin; });
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(sum.load(), 3 * 500 * 8);
}

TEST(ThreadPool, GlobalPoolHasPhysicalCores) {
  EXPECT_GE(physical_cores(), 1);
  EXPECT_EQ(ThreadPool::global().size(), physical_cores());
}

}  // namespace
}  // namespace dseek
