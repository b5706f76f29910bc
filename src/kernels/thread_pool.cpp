#include "kernels/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>

namespace dseek {
namespace {

thread_local bool tl_inside_pool = false;
std::unique_ptr<ThreadPool> g_pool;
std::mutex g_pool_mutex;

// How long a thread polls before it sleeps: longer than the gap between two matmuls of a
// decode step, short enough not to burn a core for nothing when idle. After the first
// microseconds it yields between polls, so that on a busy machine the thread it waits for
// gets the core.
constexpr auto kSpinTime = std::chrono::microseconds(200);
constexpr auto kPauseTime = std::chrono::microseconds(20);

// Polls until done() holds or kSpinTime passed; returns done().
template <typename Done>
bool spin_until(Done done) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (done()) return true;
    if (i % 64 != 0) {
      __builtin_ia32_pause();
      continue;
    }
    auto spent = std::chrono::steady_clock::now() - start;
    if (spent > kSpinTime) return done();
    if (spent > kPauseTime) std::this_thread::yield();
  }
}

}  // namespace

int physical_cores() {
  // Count distinct (package, core) pairs from sysfs: SMT siblings share a core.
  std::set<std::pair<std::string, std::string>> cores;
  unsigned logical = std::thread::hardware_concurrency();
  for (unsigned cpu = 0; cpu < logical; ++cpu) {
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream package(base + "physical_package_id"), core(base + "core_id");
    std::string p, c;
    if (!(package >> p) || !(core >> c)) return logical > 0 ? static_cast<int>(logical) : 1;
    cores.emplace(p, c);
  }
  return cores.empty() ? 1 : static_cast<int>(cores.size());
}

ThreadPool::ThreadPool(int threads) : shares_(std::make_unique<Share[]>(threads)) {
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { work(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

ThreadPool& ThreadPool::global() {
  std::lock_guard lock(g_pool_mutex);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(physical_cores());
  return *g_pool;
}

void ThreadPool::set_global_threads(int threads) {
  std::lock_guard lock(g_pool_mutex);
  g_pool = std::make_unique<ThreadPool>(threads < 1 ? 1 : threads);
}

void ThreadPool::run_share(int thread) {
  if (job_grain_ > 0) return run_pieces(thread);
  int64_t n = job_size_, begin = n * thread / size(), end = n * (thread + 1) / size();
  if (begin >= end) return;
  try {
    (*job_)(thread, begin, end);
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::current_exception();
  }
}

void ThreadPool::run_piece(int thread, int64_t piece) {
  try {
    (*job_)(thread, piece * job_grain_, std::min(job_size_, (piece + 1) * job_grain_));
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::current_exception();
  }
}

void ThreadPool::run_pieces(int thread) {
  // Its own share front to back keeps each thread on one stream of memory for as long as the
  // balance allows; then the others' shares, back to front, from the next thread on.
  for (int i = 0; i < size(); ++i) {
    const int owner = (thread + i) % size();
    std::atomic<uint64_t>& share = shares_[owner].pieces;
    uint64_t pieces = share.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t front = pieces >> 32, back = pieces & 0xffffffffu;
      if (front >= back) break;
      const bool own = owner == thread;
      const uint64_t rest = own ? (front + 1) << 32 | back : front << 32 | (back - 1);
      if (share.compare_exchange_weak(pieces, rest, std::memory_order_relaxed)) {
        run_piece(thread, static_cast<int64_t>(own ? front : back - 1));
        pieces = share.load(std::memory_order_relaxed);
      }
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (tl_inside_pool || workers_.empty() || n == 1) {
    fn(0, 0, n);
    return;
  }
  dispatch(n, 0, fn);
}

void ThreadPool::parallel_pieces(int64_t n, int64_t grain, const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max({grain, int64_t{1}, (n >> 31) + 1});  // piece numbers fit in 32 bits
  if (tl_inside_pool || workers_.empty() || n <= grain) {
    fn(0, 0, n);
    return;
  }
  dispatch(n, grain, fn);
}

void ThreadPool::dispatch(int64_t n, int64_t grain, const std::function<void(int, int64_t, int64_t)>& fn) {
  std::lock_guard one_job(dispatch_);
  job_ = &fn;
  job_size_ = n;
  job_grain_ = grain;
  if (grain > 0) {
    const int64_t pieces = (n + grain - 1) / grain;
    for (int t = 0; t < size(); ++t) {
      const auto front = static_cast<uint64_t>(pieces * t / size()), back = static_cast<uint64_t>(pieces * (t + 1) / size());
      shares_[t].pieces.store(front << 32 | back, std::memory_order_relaxed);
    }
  }
  pending_.store(static_cast<int>(workers_.size()));
  // Sequentially consistent bump, then read of the sleepers: a worker going to sleep either
  // is counted here or sees the new generation (it counts itself before it checks).
  generation_.fetch_add(1);
  if (sleeping_workers_.load() > 0) {
    std::lock_guard lock(mutex_);
    wake_.notify_all();
  }

  tl_inside_pool = true;
  run_share(0);
  tl_inside_pool = false;

  if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock lock(mutex_);
    caller_sleeping_.store(true);
    done_.wait(lock, [this] { return pending_.load() == 0; });
    caller_sleeping_.store(false);
  }
  job_ = nullptr;
  std::exception_ptr error;
  {
    std::lock_guard lock(mutex_);
    std::swap(error, error_);
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::work(int thread) {
  tl_inside_pool = true;
  uint32_t seen = 0;
  for (;;) {
    auto changed = [&] { return generation_.load() != seen; };
    if (!spin_until(changed)) {
      std::unique_lock lock(mutex_);
      sleeping_workers_.fetch_add(1);
      wake_.wait(lock, changed);
      sleeping_workers_.fetch_sub(1);
    }
    seen = generation_.load();
    if (stopping_.load()) return;
    run_share(thread);
    // The same pairing as for the workers' sleep, in the other direction.
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard lock(mutex_);
      done_.notify_one();
    }
  }
}

}  // namespace dseek
