// One persistent pool of worker threads shared by every kernel.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
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
  // the caller taking part. Nested calls run inline on the calling thread, as one range;
  // calls from several outside threads take turns. If fn throws, every other range still
  // runs to its end, then the first exception is rethrown here.
  void parallel_for(int64_t n, const std::function<void(int thread, int64_t begin, int64_t end)>& fn);

  // Like parallel_for, but balanced while it runs, in pieces of at most `grain` items: each
  // thread runs its own share from the front, then takes pieces from the back of the shares
  // still running. For memory-bound work (decode's products), where one thread can fall a
  // tenth behind the other for reasons of its own; fn is called once per piece. Where parallel_for
  // would run inline (no workers, nested calls), fn gets [0, n) at once.
  void parallel_pieces(int64_t n, int64_t grain, const std::function<void(int thread, int64_t begin, int64_t end)>& fn);

 private:
  void dispatch(int64_t n, int64_t grain, const std::function<void(int, int64_t, int64_t)>& fn);
  void work(int thread);
  void run_share(int thread);
  void run_pieces(int thread);
  void run_piece(int thread, int64_t piece);

  std::vector<std::thread> workers_;
  std::mutex dispatch_;  // one job at a time

  // The current job, published by bumping generation_. Workers spin on the generation for a
  // while after each job (decode dispatches hundreds of small jobs per token) before sleeping.
  const std::function<void(int, int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  int64_t job_grain_ = 0;  // 0: one range per thread; else the size of a piece
  // Per thread, the pieces [front, back) of its share not yet taken, as front << 32 | back: the
  // owner takes from the front, the others from the back, each with one compare-and-swap.
  struct alignas(64) Share {
    std::atomic<uint64_t> pieces{0};
  };
  std::unique_ptr<Share[]> shares_;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};  // workers still running the current job
  std::atomic<bool> stopping_{false};

  // Sleeping, for workers waiting on a job and for the caller waiting on the workers.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::exception_ptr error_;  // guarded by mutex_
};

// Physical cores of this machine (logical CPUs when that cannot be read).
int physical_cores();

}  // namespace dseek
