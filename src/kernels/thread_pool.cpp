#include "kernels/thread_pool.h"

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

ThreadPool::ThreadPool(int threads) {
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { work(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
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

static void run_share(const std::function<void(int, int64_t, int64_t)>& fn, int thread, int threads, int64_t n) {
  int64_t begin = n * thread / threads, end = n * (thread + 1) / threads;
  if (begin < end) fn(thread, begin, end);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (tl_inside_pool || workers_.empty() || n == 1) {
    fn(0, 0, n);
    return;
  }
  {
    std::unique_lock lock(mutex_);
    job_ = &fn;
    job_size_ = n;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  tl_inside_pool = true;
  run_share(fn, 0, size(), n);
  tl_inside_pool = false;
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::work(int thread) {
  tl_inside_pool = true;
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int, int64_t, int64_t)>* job;
    int64_t n;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      job = job_;
      n = job_size_;
    }
    run_share(*job, thread, size(), n);
    {
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

}  // namespace dseek
