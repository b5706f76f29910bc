// Quantized matmul throughput on DeepSeek-V2-Lite shapes: an expert's FFN [1408 x 2048] and
// [2048 x 1408], the dense FFN [10944 x 2048], the output head [102400 x 2048].
//   ./dseek_microbench --benchmark_filter=Quant
//   ./dseek_microbench --benchmark_filter='Quant.*Q4_K_dense.*m:512/threads:1'  (one kernel, one core)
//   ./dseek_microbench --benchmark_filter=QuantGemv  (decode kernels: from DRAM and from L2)
// Q4_K_R16, Q5_0_R16 and Q8_0_R16 are Q4_K, Q5_0 and Q8_0 repacked as the models do at load time
// on AVX-512 VNNI (quant/repack.h).
#include <cstring>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/thread_pool.h"
#include "quant/quant_matmul.h"
#include "quant/repack.h"

namespace dseek {
namespace {

struct alignas(64) Line {  // interleaved formats load whole cache lines
  unsigned char bytes[64];
};
struct Matrix {
  std::vector<Line> lines;
  Weight weight;
};

// Interleaved formats are quantized as their source format, then repacked as the models do at load time.
Matrix make_matrix(DType dtype, int64_t rows, int64_t cols) {
  const DType stored = dtype_row_group(dtype) > 1 ? interleaved_source(dtype) : dtype;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> row(cols);
  const size_t row_size = row_bytes(stored, cols);
  std::vector<unsigned char> bytes(rows * row_size);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    quantize_row(stored, row.data(), bytes.data() + r * row_size, cols);
  }
  Matrix m;
  m.weight = Weight{.dtype = stored, .rows = rows, .cols = cols, .data = bytes.data(), .row_stride = cols};
  m.lines.resize((rows * row_bytes(dtype, cols) + 63) / 64);
  if (dtype != stored) {
    m.weight = repack(m.weight, dtype, m.lines.data());
  } else {
    std::memcpy(m.lines.data(), bytes.data(), bytes.size());
    m.weight.data = m.lines.data();
  }
  return m;
}

// y[m, rows] = x[m, cols] · Wᵀ on `threads` threads (range(1); 0: the machine's default).
// Counters: GOP/s (2 per multiply-add) and GB/s (weight bytes read once per call).
void QuantMatmul(benchmark::State& state, DType dtype, int64_t rows, int64_t cols) {
  const int64_t m = state.range(0), threads = state.range(1);
  ThreadPool::set_global_threads(threads ? static_cast<int>(threads) : physical_cores());
  static Matrix w;  // the last one made: quantizing the head takes seconds
  if (w.weight.dtype != dtype || w.weight.rows != rows || w.weight.cols != cols) w = make_matrix(dtype, rows, cols);
  std::vector<float> x(m * cols), y(m * rows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.0f;
  for (auto _ : state) {
    quant_matmul(x.data(), m, w.weight, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const auto rate = [&](double per_call) {
    return benchmark::Counter(per_call * state.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  };
  state.counters["GOP/s"] = rate(1e-9 * 2.0 * m * rows * cols);
  state.counters["GB/s"] = rate(1e-9 * w.weight.bytes());
  ThreadPool::set_global_threads(physical_cores());
}

// m: 1 and 4 (decode, one and four sequences), 16 and 48 (an expert's share of a prompt's
// tokens), 512 (a prompt); on one thread and on all.
void Shapes(benchmark::internal::Benchmark* b, std::initializer_list<int64_t> ms) {
  b->ArgNames({"m", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (int64_t m : ms)
    for (int64_t t : {1, 0}) b->Args({m, t});
}
void AllRows(benchmark::internal::Benchmark* b) { Shapes(b, {1, 4, 16, 48, 512}); }
void DecodeRows(benchmark::internal::Benchmark* b) { Shapes(b, {1, 4}); }

// V2-Lite at Q4_K_M: experts' gate/up Q4_K, down (1408 columns: not whole 256-value blocks)
// falls back to Q5_0 or Q8_0, the output head Q6_K; and the same shapes at Q8_0.
BENCHMARK_CAPTURE(QuantMatmul, Q4_K_expert_1408x2048, DType::Q4_K, 1408, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q4_K_R16_expert_1408x2048, DType::Q4_K_R16, 1408, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q6_K_expert_1408x2048, DType::Q6_K, 1408, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q8_0_expert_1408x2048, DType::Q8_0, 1408, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q8_0_R16_expert_1408x2048, DType::Q8_0_R16, 1408, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q5_0_down_2048x1408, DType::Q5_0, 2048, 1408)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q5_0_R16_down_2048x1408, DType::Q5_0_R16, 2048, 1408)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q8_0_down_2048x1408, DType::Q8_0, 2048, 1408)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q8_0_R16_down_2048x1408, DType::Q8_0_R16, 2048, 1408)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q4_K_dense_10944x2048, DType::Q4_K, 10944, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q8_0_dense_10944x2048, DType::Q8_0, 10944, 2048)->Apply(AllRows);
BENCHMARK_CAPTURE(QuantMatmul, Q6_K_head_102400x2048, DType::Q6_K, 102400, 2048)->Apply(DecodeRows);
BENCHMARK_CAPTURE(QuantMatmul, Q8_0_head_102400x2048, DType::Q8_0, 102400, 2048)->Apply(DecodeRows);

// Decode GEMV, y = W·x for m <= 4 rows, in weight GB/s. cold: copies of the dense FFN's
// [10944 x 2048] totalling 256 MiB, cycled so that every call reads DRAM (compare with
// BM_ReadBandwidth); hot: [256 x 2048], which stays in L2 and so measures the kernel's speed.
void QuantGemv(benchmark::State& state, DType dtype) {
  const int64_t m = state.range(0), threads = state.range(1), cold = state.range(2);
  const int64_t rows = cold ? 10944 : 256, cols = 2048;
  ThreadPool::set_global_threads(static_cast<int>(threads));
  const Matrix one = make_matrix(dtype, rows, cols);
  const size_t bytes = one.lines.size() * sizeof(Line), copies = cold ? ((size_t{256} << 20) + bytes - 1) / bytes : 1;
  std::vector<Line> all(copies * one.lines.size());
  for (size_t c = 0; c < copies; ++c) std::copy(one.lines.begin(), one.lines.end(), all.begin() + c * one.lines.size());
  std::vector<float> x(m * cols), y(m * rows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.0f;
  Weight w = one.weight;
  size_t next = 0;
  for (auto _ : state) {
    w.data = all.data() + next * one.lines.size();
    quant_matmul(x.data(), m, w, y.data());
    next = (next + 1) % copies;
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(1e-9 * static_cast<double>(bytes), benchmark::Counter::kIsIterationInvariantRate);
  ThreadPool::set_global_threads(physical_cores());
}
void GemvShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "threads", "cold"})->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (int64_t cold : {0, 1})
    for (int64_t m : {1, 4})
      for (int64_t t : {1, 2}) b->Args({m, t, cold});
}
BENCHMARK_CAPTURE(QuantGemv, Q4_K, DType::Q4_K)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q4_K_R16, DType::Q4_K_R16)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q8_0, DType::Q8_0)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q8_0_R16, DType::Q8_0_R16)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q6_K, DType::Q6_K)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q5_0, DType::Q5_0)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q5_0_R16, DType::Q5_0_R16)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q3_K, DType::Q3_K)->Apply(GemvShapes);
BENCHMARK_CAPTURE(QuantGemv, Q2_K, DType::Q2_K)->Apply(GemvShapes);

}  // namespace
}  // namespace dseek
