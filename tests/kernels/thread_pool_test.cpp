#include "kernels/thread_pool.h"

#include <atomic>
#include <chrono>
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

TEST(ThreadPool, PiecesCoverEveryIndexOnce) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 5, 64, 1001}) {
      for (int64_t grain : {1, 3, 64, 2000}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_pieces(n, grain, [&](int thread, int64_t begin, int64_t end) {
          ASSERT_GE(thread, 0);
          ASSERT_LT(thread, threads);
          ASSERT_LT(begin, end);
          if (threads > 1) {
            ASSERT_LE(end - begin, grain);  // one thread takes the whole range at once
          }
          for (int64_t i = begin; i < end; ++i) hits[i]++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " of " << n << ", grain " << grain;
      }
    }
  }
}

TEST(ThreadPool, PiecesGoToTheThreadsThatAreFree) {
  // One thread is held up on its first piece until every other piece is done: the rest of its
  // share must be taken by the others, back to front.
  ThreadPool pool(2);
  constexpr int64_t kPieces = 40;
  std::atomic<int> done{0};
  std::vector<int> runner(kPieces, -1);
  std::atomic<int> slow_thread{-1};
  pool.parallel_pieces(kPieces, 1, [&](int thread, int64_t begin, int64_t) {
    int expected = -1;
    if (begin < kPieces / 2 && slow_thread.compare_exchange_strong(expected, thread)) {
      auto start = std::chrono::steady_clock::now();
      while (done.load() < kPieces - 1 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10))
        std::this_thread::yield();
    }
    runner[begin] = thread;
    ++done;
  });
  EXPECT_EQ(done.load(), kPieces);
  int by_slow = 0;
  for (int r : runner) by_slow += r == slow_thread.load();
  EXPECT_EQ(by_slow, 1);
}

TEST(ThreadPool, PiecesRethrowAfterEveryPieceFinished) {
  ThreadPool pool(3);
  std::atomic<int> finished{0};
  EXPECT_THROW(pool.parallel_pieces(30, 2,
                                    [&](int, int64_t begin, int64_t) {
                                      if (begin == 10) throw std::runtime_error("boom");
                                      ++finished;
                                    }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 14);
}

TEST(ThreadPool, GlobalPoolHasPhysicalCores) {
  EXPECT_GE(physical_cores(), 1);
  EXPECT_EQ(ThreadPool::global().size(), physical_cores());
}

}  // namespace
}  // namespace dseek
