// Checks the weight once and hands the product to the kernels of the instruction set in use.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string_view>

#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/matmul_impl.h"
#include "kernels/thread_pool.h"
#include "quant/formats.h"
#include "quant/quant_matmul.h"
#include "util/error.h"

namespace dseek {
namespace {

// -1 until first use: the environment is read lazily, like DSEEK_ISA.
std::atomic<int> g_bf16_activations{-1};

Isa kernel_isa(const Weight& w) {
  switch (w.dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      break;
    case DType::F8_E4M3:
      if (!w.block_scale || w.block_rows <= 0 || w.block_cols <= 0)
        fail("FP8 weight [{}, {}] has no block scales", w.rows, w.cols);
      // The SIMD kernels take one scale per vector of 16 columns.
      if (w.block_cols % 16 != 0) return Isa::Scalar;
      break;
    default:
      fail("no kernel for weights of dtype {}", dtype_name(w.dtype));
  }
  return active_isa();
}

}  // namespace

void set_bf16_activations(bool on) {
  if (on && !cpu_features().avx512bf16) fail("BF16 activations need a CPU with AVX512-BF16");
  g_bf16_activations.store(on);
}

bool bf16_activations() {
  int on = g_bf16_activations.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("DSEEK_BF16_ACTIVATIONS");
    set_bf16_activations(env && std::string_view(env) == "1");
    on = g_bf16_activations.load();
  }
  return on == 1;
}

void round_to_bf16(const float* x, int64_t n, uint16_t* out) {
  if (active_isa() == Isa::Avx512 && cpu_features().avx512bf16) return avx512::round_to_bf16(x, n, out);
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

void matmul(const float* x, int64_t m, const Weight& w, float* y) {
  if (m <= 0 || w.rows <= 0) return;
  if (w.cols == 0) {
    std::fill(y, y + m * w.rows, 0.0f);
    return;
  }
  if (is_quantized(w.dtype)) return quant_matmul(x, m, w, y);
  switch (kernel_isa(w)) {
    case Isa::Avx512:
      return bf16_activations() ? avx512::matmul_bf16(x, m, w, y) : avx512::matmul(x, m, w, y);
    case Isa::Avx2:
      return avx2::matmul(x, m, w, y);
    case Isa::Scalar:
      return scalar::matmul(x, m, w, y);
  }
}

MatmulInput::MatmulInput(const float* x, int64_t m, const Weight& w) : x_(x), m_(m), dtype_(w.dtype), cols_(w.cols) {
  if (is_quantized(w.dtype)) quantized_ = quant_prepare_rows(x, m, w);
}

int64_t matvec_piece_bytes(int64_t bytes) {
  constexpr int64_t kPiecesPerThread = 16;
  return std::clamp<int64_t>(bytes / (kPiecesPerThread * ThreadPool::global().size()), 64 << 10, 1 << 20);
}

MatmulInput::MatmulInput(const MatmulInput& from, std::span<const int64_t> rows)
    : x_(nullptr), m_(static_cast<int64_t>(rows.size())), dtype_(from.dtype_), cols_(from.cols_) {
  if (is_quantized(dtype_)) {
    quantized_ = quant_gather_rows(from.quantized_, rows);
    return;
  }
  gathered_ = std::make_unique_for_overwrite<float[]>(m_ * cols_);
  for (int64_t i = 0; i < m_; ++i) {
    if (rows[i] < 0 || rows[i] >= from.m_) fail("row {} of an input of {} rows", rows[i], from.m_);
    std::copy_n(from.x_ + rows[i] * cols_, cols_, gathered_.get() + i * cols_);
  }
  x_ = gathered_.get();
}

bool MatmulInput::serves(const float* x, const Weight& w) const {
  return x == x_ && serves(w);
}

void MatmulInput::check(const Weight& w) const {
  if (!serves(w)) fail("rows prepared for {} weights of {} columns used with a {} weight of {}", dtype_name(dtype_), cols_, dtype_name(w.dtype), w.cols);
}

void MatmulInput::multiply(const Weight& w, int64_t first, int64_t count, float* y) const {
  check(w);
  if (first < 0 || count < 0 || first + count > m_) fail("rows [{}, {}) of {} prepared rows", first, first + count, m_);
  if (is_quantized(w.dtype)) return quant_matmul_prepared(quantized_, first, count, w, y);
  matmul(x_ + first * cols_, count, w, y);
}

void MatmulInput::multiply_rows(const Weight& w, int64_t r0, int64_t r1, float* y) const {
  check(w);
  if (m_ != 1) fail("multiply_rows: ranges of rows take one prepared row, not {}", m_);
  if (is_quantized(w.dtype)) return quant_matvec_rows(quantized_, w, r0, r1, y);
  if (r1 > r0) matmul(x_, 1, w.slice_rows(r0, r1 - r0), y + r0);
}

void matmul_rows(const float* x, int64_t m, const Weight& w, float* y) {
  if (m <= 0 || w.cols <= 0) return;
  if (w.rows == 0) {
    std::fill(y, y + m * w.cols, 0.0f);
    return;
  }
  if (is_quantized(w.dtype)) return quant_matmul_rows(x, m, w, y);
  switch (kernel_isa(w)) {
    case Isa::Avx512:
      return bf16_activations() ? avx512::matmul_rows_bf16(x, m, w, y) : avx512::matmul_rows(x, m, w, y);
    case Isa::Avx2:
      return avx2::matmul_rows(x, m, w, y);
    case Isa::Scalar:
      return scalar::matmul_rows(x, m, w, y);
  }
}

void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out) {
  if (begin < 0 || count < 0 || begin + count > w.rows)
    fail("rows [{}, {}) are outside a weight of {} rows", begin, begin + count, w.rows);
  if (count == 0 || w.cols == 0) return;
  if (is_quantized(w.dtype)) return quant_dequantize_rows(w, begin, count, out);
  switch (kernel_isa(w)) {
    case Isa::Avx512:
      return avx512::dequantize_rows(w, begin, count, out);
    case Isa::Avx2:
      return avx2::dequantize_rows(w, begin, count, out);
    case Isa::Scalar:
      return scalar::dequantize_rows(w, begin, count, out);
  }
}

}  // namespace dseek
