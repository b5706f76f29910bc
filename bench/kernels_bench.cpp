// Thread pool dispatch cost and the machine's memory bandwidth (the decode yardstick).
#include <benchmark/benchmark.h>

#include <atomic>

#include "kernels/bandwidth.h"
#include "kernels/thread_pool.h"

namespace dseek {
namespace {

// One parallel_for over every thread with nothing to do: what each decode matmul pays on top.
void BM_ParallelForDispatch(benchmark::State& state) {
  ThreadPool& pool = ThreadPool::global();
  std::atomic<int64_t> sink{0};
  for (auto _ : state) pool.parallel_for(pool.size(), [&](int, int64_t begin, int64_t) { sink += begin; });
  state.counters["threads"] = pool.size();
}
BENCHMARK(BM_ParallelForDispatch)->UseRealTime();

constexpr size_t kBandwidthBytes = size_t{1} << 30;

void BM_ReadBandwidth(benchmark::State& state) {
  double rate = 0;
  for (auto _ : state) rate = measure_read_bandwidth(kBandwidthBytes);
  state.counters["GB/s"] = rate;
}
BENCHMARK(BM_ReadBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CopyBandwidth(benchmark::State& state) {
  double rate = 0;
  for (auto _ : state) rate = measure_copy_bandwidth(kBandwidthBytes / 2);
  state.counters["GB/s"] = rate;
}
BENCHMARK(BM_CopyBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace dseek
