// Matmul speed on DeepSeek-V2-Lite shapes with the kernels of the instruction set in use
// (DSEEK_ISA=scalar|avx2|avx512 to choose). Decode reports weight bytes streamed per second
// (compare with measure_read_bandwidth, BM_ReadBandwidth in kernels_bench), prefill FLOP/s.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace dseek {
namespace {

const int kContext = (benchmark::AddCustomContext("dseek_isa", isa_summary()), 0);

// Enough copies of a weight to total this many bytes, cycled through so that decode reads
// from memory and not from the 32 MiB L3.
constexpr int64_t kColdBytes = int64_t{256} << 20;

uint64_t next_random(uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// Random weights [N, K] in `dtype`: normal finite values, FP8 with 128 x 128 block scales.
struct BenchWeights {
  std::vector<std::unique_ptr<uint8_t[]>> storage;
  std::vector<float> scales;
  std::vector<Weight> copies;
};

BenchWeights make_weights(DType dtype, int64_t N, int64_t K, int copies) {
  BenchWeights b;
  size_t elem = dtype == DType::F8_E4M3 ? 1 : 2;
  uint64_t state = 88172645463325252ull;
  if (dtype == DType::F8_E4M3) b.scales.assign(((N + 127) / 128) * ((K + 127) / 128), 1e-2f);
  for (int c = 0; c < copies; ++c) {
    auto data = std::make_unique<uint8_t[]>(N * K * elem);
    if (dtype == DType::BF16) {
      auto* bits = reinterpret_cast<uint16_t*>(data.get());
      // Sign, a random mantissa and exponents 2^-7..2^0: no subnormals, infinities or NaNs.
      for (int64_t i = 0; i < N * K; ++i) bits[i] = static_cast<uint16_t>((next_random(state) & 0x83ff) | 0x3c00);
    } else {
      for (int64_t i = 0; i < N * K; ++i) {
        uint8_t code = static_cast<uint8_t>(next_random(state));
        data[i] = (code & 0x7f) == 0x7f ? 0 : code;  // no NaN codes
      }
    }
    Weight w;
    w.dtype = dtype;
    w.rows = N;
    w.cols = K;
    w.row_stride = K;
    w.data = data.get();
    if (dtype == DType::F8_E4M3) {
      w.block_scale = b.scales.data();
      w.block_rows = w.block_cols = 128;
      w.scale_cols = (K + 127) / 128;
    }
    b.copies.push_back(w);
    b.storage.push_back(std::move(data));
  }
  return b;
}

std::vector<float> random_activations(int64_t n) {
  uint64_t state = 2463534242ull;
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(next_random(state) % 2001) / 1000.0f - 1.0f;
  return x;
}

void decode(benchmark::State& state, DType dtype) {
  const int64_t m = state.range(0), N = 10944, K = 2048;
  int64_t one = N * K * (dtype == DType::F8_E4M3 ? 1 : 2);
  BenchWeights b = make_weights(dtype, N, K, static_cast<int>((kColdBytes + one - 1) / one));
  std::vector<float> x = random_activations(m * K), y(m * N);
  size_t next = 0;
  for (auto _ : state) {
    matmul(x.data(), m, b.copies[next], y.data());
    next = (next + 1) % b.copies.size();
    benchmark::DoNotOptimize(y.data());
  }
  double bytes = static_cast<double>(b.copies[0].bytes());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["GB/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DecodeBf16_10944x2048(benchmark::State& state) { decode(state, DType::BF16); }
void BM_DecodeFp8_10944x2048(benchmark::State& state) { decode(state, DType::F8_E4M3); }
BENCHMARK(BM_DecodeBf16_10944x2048)->Arg(1)->Arg(4)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_DecodeFp8_10944x2048)->Arg(1)->Arg(4)->Unit(benchmark::kMicrosecond)->UseRealTime();

void prefill(benchmark::State& state, DType dtype, int64_t N, int64_t K) {
  const int64_t m = state.range(0);
  BenchWeights b = make_weights(dtype, N, K, 1);
  std::vector<float> x = random_activations(m * K), y(m * N);
  for (auto _ : state) {
    matmul(x.data(), m, b.copies[0], y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * m * N * K, benchmark::Counter::kIsIterationInvariantRate);
}

// The opt-in BF16 activations (prefill, and batched decode streaming BF16 weights), with their
// relative L2 distance to the exact F32 result.
void BM_PrefillBf16Dot_1408x2048(benchmark::State& state) {
  if (active_isa() != Isa::Avx512 || !cpu_features().avx512bf16) {
    state.SkipWithError("needs the AVX-512 kernels and AVX512-BF16");
    return;
  }
  const int64_t m = state.range(0), N = 1408, K = 2048;
  BenchWeights b = make_weights(DType::BF16, N, K, 1);
  std::vector<float> x = random_activations(m * K), exact(m * N), y(m * N);
  set_bf16_activations(false);
  matmul(x.data(), m, b.copies[0], exact.data());
  set_bf16_activations(true);
  for (auto _ : state) {
    matmul(x.data(), m, b.copies[0], y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_bf16_activations(false);
  double error = 0, norm = 0;
  for (int64_t i = 0; i < m * N; ++i) {
    error += (double{y[i]} - exact[i]) * (double{y[i]} - exact[i]);
    norm += double{exact[i]} * exact[i];
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * m * N * K, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["rel_l2"] = std::sqrt(error / norm);
}
BENCHMARK(BM_PrefillBf16Dot_1408x2048)->Arg(512)->Arg(16)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PrefillBf16_1408x2048(benchmark::State& state) { prefill(state, DType::BF16, 1408, 2048); }
void BM_PrefillBf16_2048x1408(benchmark::State& state) { prefill(state, DType::BF16, 2048, 1408); }
void BM_PrefillFp8_1408x2048(benchmark::State& state) { prefill(state, DType::F8_E4M3, 1408, 2048); }
BENCHMARK(BM_PrefillBf16_1408x2048)->Arg(512)->Arg(64)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrefillBf16_2048x1408)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrefillFp8_1408x2048)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

// Batched decode (continuous batching, m = active sequences) through the output head, which
// exceeds the L3: bandwidth-bound at small m, FMA-bound as m grows.
void BM_BatchBf16_102400x2048(benchmark::State& state) {
  prefill(state, DType::BF16, 102400, 2048);
  state.counters["GB/s"] = benchmark::Counter(102400.0 * 2048 * 2, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_BatchBf16_102400x2048)->Arg(1)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

// Attention over an F32 cache as matmul_rows does it for MLA: 16 heads' weights over T
// positions times the [T, 512] latent cache.
void BM_RowsF32_Heads16_Latent512(benchmark::State& state) {
  const int64_t heads = 16, T = state.range(0), K = 512;
  std::vector<float> cache(T * K, 0.25f), x(heads * T, 1.0f / T), y(heads * K);
  Weight w;
  w.dtype = DType::F32;
  w.rows = T;
  w.cols = K;
  w.row_stride = K;
  w.data = cache.data();
  for (auto _ : state) {
    matmul_rows(x.data(), heads, w, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * heads * T * K, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_RowsF32_Heads16_Latent512)->Arg(512)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One 256-key page of MLA's decode attention on one thread, as each thread runs its share of the
// keys: 16 heads' scores against the page's [256, 576] cache rows, then their weights times the
// rows' [256, 512] latents. range(0): the cache in F32 (0) or BF16 (1); range(1): activations in
// F32 (0) or BF16 (1, set_bf16_activations; needs AVX512-BF16).
void BM_AttentionPage(benchmark::State& state) {
  const bool bf16_cache = state.range(0), bf16 = state.range(1);
  if (bf16 && !cpu_features().avx512bf16) return state.SkipWithError("no AVX512-BF16");
  const int64_t heads = 16, keys = 256, width = 576, rank = 512;
  std::vector<float> rows = random_activations(keys * width), q = random_activations(heads * width);
  std::vector<uint16_t> halves(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) halves[i] = f32_to_bf16(rows[i]);
  std::vector<float> scores(heads * keys), weights(heads * keys, 1.0f / keys), out(heads * rank);
  Weight page;
  page.dtype = bf16_cache ? DType::BF16 : DType::F32;
  page.data = bf16_cache ? static_cast<const void*>(halves.data()) : rows.data();
  page.rows = keys;
  page.row_stride = width;
  Weight key_rows = page, latents = page;
  key_rows.cols = width;
  latents.cols = rank;
  ThreadPool::set_global_threads(1);
  set_bf16_activations(bf16);
  for (auto _ : state) {
    matmul(q.data(), heads, key_rows, scores.data());
    matmul_rows(weights.data(), heads, latents, out.data());
    benchmark::DoNotOptimize(scores.data());
    benchmark::DoNotOptimize(out.data());
  }
  set_bf16_activations(false);
  ThreadPool::set_global_threads(physical_cores());
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * heads * keys * (width + rank), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AttentionPage)->ArgNames({"bf16_cache", "bf16"})->Args({0, 0})->Args({1, 0})->Args({1, 1})->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace dseek
