#include "kernels/bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "kernels/thread_pool.h"
#include "kernels/weight_memory.h"

namespace dseek {
namespace {

constexpr int kPasses = 5;
// Each pass is timed in segments larger than the last-level caches; the best segment counts, so
// that a moment of contention from other processes does not spoil the figure.
constexpr int64_t kSegmentWords = int64_t{64} << 17;  // 64 MiB

// Independent sums, so that the loads are not serialized behind one add chain.
uint64_t sum_words(const uint64_t* p, int64_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  for (; i < n; ++i) s0 += p[i];
  return s0 + s1 + s2 + s3;
}

// A buffer of `words` in the pages the weights are in (huge where the system has them), so
// that decode is held to the rate of the same kind of memory; its pages are first touched by
// the thread that later reads them, for their placement.
class TouchedBuffer {
 public:
  explicit TouchedBuffer(int64_t words) : memory_(static_cast<size_t>(words) * sizeof(uint64_t)) {
    ThreadPool::global().parallel_for(words, [&](int, int64_t begin, int64_t end) { std::fill(get() + begin, get() + end, uint64_t{1}); });
  }
  uint64_t* get() const { return reinterpret_cast<uint64_t*>(memory_.data()); }

 private:
  WeightMemory memory_;
};

// Best GB/s of segment(begin, end) over kPasses passes through [0, words), each word moving
// bytes_per_word.
template <typename Segment>
double best_rate(int64_t words, double bytes_per_word, Segment segment) {
  double best = 0;
  for (int i = 0; i < kPasses; ++i) {
    for (int64_t begin = 0; begin < words; begin += kSegmentWords) {
      int64_t end = std::min(words, begin + kSegmentWords);
      auto start = std::chrono::steady_clock::now();
      segment(begin, end);
      std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
      best = std::max(best, static_cast<double>(end - begin) * bytes_per_word / seconds.count() / 1e9);
    }
  }
  return best;
}

}  // namespace

double measure_read_bandwidth(size_t bytes) {
  int64_t words = static_cast<int64_t>(bytes / 8);
  const TouchedBuffer buffer(words);
  std::atomic<uint64_t> sink{0};  // keeps the sums alive
  return best_rate(words, 8, [&](int64_t begin, int64_t end) {
    ThreadPool::global().parallel_for(end - begin, [&](int, int64_t b, int64_t e) {
      sink += sum_words(buffer.get() + begin + b, e - b);
    });
  });
}

double measure_copy_bandwidth(size_t bytes) {
  int64_t words = static_cast<int64_t>(bytes / 8);
  const TouchedBuffer from(words), to(words);
  return best_rate(words, 16, [&](int64_t begin, int64_t end) {
    ThreadPool::global().parallel_for(end - begin, [&](int, int64_t b, int64_t e) {
      std::memcpy(to.get() + begin + b, from.get() + begin + b, (e - b) * 8);
    });
  });
}

}  // namespace dseek
