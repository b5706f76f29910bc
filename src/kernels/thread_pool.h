// One persistent pool of worker threads shared by every kernel.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dseek {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The pool the kernels use; sized by set_global_threads() or the physical core count.
  static ThreadPool& global();
  static void set_global_threads(int threads);

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(thread, begin, end) over [0, n) split into one contiguous range per thread,
  // the caller taking part. Nested calls run inline on the calling thread.
  void parallel_for(int64_t n, const std::function<void(int thread, int64_t begin, int64_t end)>& fn);

 private:
  void work(int thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int, int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
};

// Physical cores of this machine (logical CPUs when that cannot be read).
int physical_cores();

}  // namespace dseek
