// Quantized matmul throughput on DeepSeek-V2-Lite shapes: the expert FFN [1408 x 2048] and the
// dense FFN [10944 x 2048]. GEMV (decode, m = 1) reports weight bytes streamed per second;
// GEMM (prefill, m = 512) reports multiply-adds as operations (2 per MAC) per second.
//   ./dseek_microbench --benchmark_filter=Quant
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "quant/quant_matmul.h"

namespace dseek {
namespace {

struct Matrix {
  std::vector<unsigned char> bytes;
  Weight weight;
};

Matrix make_matrix(DType dtype, int64_t rows, int64_t cols) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> row(cols);
  Matrix m;
  const size_t row_size = row_bytes(dtype, cols);
  m.bytes.resize(rows * row_size);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    quantize_row(dtype, row.data(), m.bytes.data() + r * row_size, cols);
  }
  m.weight = Weight{.dtype = dtype, .rows = rows, .cols = cols, .data = m.bytes.data(), .row_stride = cols};
  return m;
}

void run(benchmark::State& state, DType dtype, int64_t rows, int64_t cols, int64_t m) {
  Matrix w = make_matrix(dtype, rows, cols);
  std::vector<float> x(m * cols, 0.5f), y(m * rows);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.0f;
  for (auto _ : state) {
    quant_matmul(x.data(), m, w.weight, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  if (m == 1) {
    state.SetBytesProcessed(state.iterations() * w.weight.bytes());
  } else {
    state.counters["GOP/s"] = benchmark::Counter(2.0 * m * rows * cols * state.iterations(), benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1000);
  }
}

void QuantGemv(benchmark::State& state, DType dtype, int64_t rows) { run(state, dtype, rows, 2048, 1); }
void QuantGemm(benchmark::State& state, DType dtype, int64_t rows) { run(state, dtype, rows, 2048, 512); }

BENCHMARK_CAPTURE(QuantGemv, Q4_K_10944x2048, DType::Q4_K, 10944)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemv, Q4_K_1408x2048, DType::Q4_K, 1408)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemv, Q8_0_10944x2048, DType::Q8_0, 10944)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemv, Q8_0_1408x2048, DType::Q8_0, 1408)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemv, Q6_K_10944x2048, DType::Q6_K, 10944)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemv, Q5_K_10944x2048, DType::Q5_K, 10944)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemm, Q4_K_m512_1408x2048, DType::Q4_K, 1408)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemm, Q8_0_m512_1408x2048, DType::Q8_0, 1408)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(QuantGemm, Q6_K_m512_1408x2048, DType::Q6_K, 1408)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace dseek
