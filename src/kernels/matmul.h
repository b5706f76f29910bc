// The hot interface: products of F32 activations with a weight in any stored format.
// Each format is converted in registers; implementations are chosen at run time by CPU
// features and run on the global thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "kernels/weight.h"
#include "quant/quant_matmul.h"

namespace dseek {

// y[m, N] = x[m, K] · Wᵀ, W = [N, K]. x and y are dense row-major.
void matmul(const float* x, int64_t m, const Weight& w, float* y);

// Weight bytes per piece of a decode product of `bytes` in all, that the threads balance
// (ThreadPool::parallel_pieces): about 16 pieces per thread, from 64 KiB (microseconds of
// streaming against a compare-and-swap) to 1 MiB. Each piece costs its bookkeeping and a call
// into the kernels, and 64 KiB pieces of decode's larger products cost a few percent of a token.
int64_t matvec_piece_bytes(int64_t bytes);

// Rows x[m, K] prepared once (quantized to int8 for the block formats) for products with weights
// of one format and width: decode's many small products of one row, which the threads split in
// ranges of rows, each range on its own, and long prompts' attention, where each head's thread
// lifts the whole cache by its own rows of kv_b.
class MatmulInput {
 public:
  MatmulInput(const float* x, int64_t m, const Weight& w);
  // Rows `rows` of `from`, in that order, as prepared there (quantized rows are copied, not
  // quantized again): a MoE expert's tokens out of a layer's rows prepared once for all experts.
  MatmulInput(const MatmulInput& from, std::span<const int64_t> rows);
  // Whether this input serves weights of w's format and width, whatever its rows.
  bool serves(const Weight& w) const { return w.dtype == dtype_ && w.cols == cols_; }
  // Whether this input serves x against weights of w's format and width.
  bool serves(const float* x, const Weight& w) const;
  // y[m, N] = x · Wᵀ, as matmul computes it; or of rows [first, first + count) of x, y[count, N].
  void multiply(const Weight& w, float* y) const { multiply(w, 0, m_, y); }
  void multiply(const Weight& w, int64_t first, int64_t count, float* y) const;
  // For one row (m = 1): y[r0, r1) = rows [r0, r1) of W · x, whole groups of interleaved rows;
  // from a thread pool job, on the calling thread.
  void multiply_rows(const Weight& w, int64_t r0, int64_t r1, float* y) const;

 private:
  void check(const Weight& w) const;

  const float* x_;
  int64_t m_;
  DType dtype_;
  int64_t cols_;
  PreparedRows quantized_;             // none for the float formats
  std::unique_ptr<float[]> gathered_;  // the float formats' rows of a gathered input, which x_ points at
};

// y[m, K] = x[m, N] · W: each output row is a weighted sum of W's rows.
void matmul_rows(const float* x, int64_t m, const Weight& w, float* y);

// Rows [begin, begin + count) of W as F32, dense [count, K].
void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out);

// Opt-in BF16 activations on CPUs with AVX512-BF16, while the AVX-512 kernels are in use: matmul
// rounds x to BF16 and sums pairs of products in F32 with vdpbf16ps, which does twice the
// multiply-adds of an F32 FMA. Weights stored in BF16 are used as they are, at any number of
// rows of x; beyond 64 rows (prefill), F16 and FP8 weights are rounded to BF16 too; F32 weights
// stay exact. About twice the speed where multiply-adds bound it (batched decode, prefill), as
// llama.cpp and vLLM compute with BF16 weights, but a relative error near 1e-3 instead of 1e-7;
// so off unless DSEEK_BF16_ACTIVATIONS=1 or set_bf16_activations(true) (which the commands'
// --activations calls, overriding the environment). Turning it on fails without AVX512-BF16.
void set_bf16_activations(bool on);
bool bf16_activations();

// x[0, n) rounded to BF16 (to nearest even) at out, as the kernels round BF16 activations.
void round_to_bf16(const float* x, int64_t n, uint16_t* out);

}  // namespace dseek
