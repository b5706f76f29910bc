// Portable reference kernels: the scalar fallback and the yardstick of the SIMD ones.
#include <vector>

#include "kernels/convert.h"
#include "kernels/matmul_impl.h"
#include "kernels/thread_pool.h"
#include "util/error.h"

namespace dseek::scalar {
namespace {

// Row r of W as F32 (block scales applied).
void load_row(const Weight& w, int64_t r, float* out) {
  const char* base = static_cast<const char*>(w.data);
  switch (w.dtype) {
    case DType::F32: {
      const float* row = reinterpret_cast<const float*>(base) + r * w.row_stride;
      for (int64_t c = 0; c < w.cols; ++c) out[c] = row[c];
      return;
    }
    case DType::BF16: {
      const uint16_t* row = reinterpret_cast<const uint16_t*>(base) + r * w.row_stride;
      for (int64_t c = 0; c < w.cols; ++c) out[c] = bf16_to_f32(row[c]);
      return;
    }
    case DType::F16: {
      const uint16_t* row = reinterpret_cast<const uint16_t*>(base) + r * w.row_stride;
      for (int64_t c = 0; c < w.cols; ++c) out[c] = f16_to_f32(row[c]);
      return;
    }
    case DType::F8_E4M3: {
      const uint8_t* row = reinterpret_cast<const uint8_t*>(base) + r * w.row_stride;
      const float* table = e4m3_table();
      const float* scales = w.block_scale + ((w.row0 + r) / w.block_rows) * w.scale_cols;
      for (int64_t c = 0; c < w.cols; ++c) out[c] = table[row[c]] * scales[c / w.block_cols];
      return;
    }
    default:
      fail("no kernel for weights of dtype {}", dtype_name(w.dtype));
  }
}

}  // namespace

void dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out) {
  for (int64_t r = 0; r < count; ++r) load_row(w, begin + r, out + r * w.cols);
}

void matmul(const float* x, int64_t m, const Weight& w, float* y) {
  ThreadPool::global().parallel_for(w.rows, [&](int, int64_t begin, int64_t end) {
    std::vector<float> row(w.cols);
    for (int64_t n = begin; n < end; ++n) {
      load_row(w, n, row.data());
      for (int64_t i = 0; i < m; ++i) {
        const float* xi = x + i * w.cols;
        float sum = 0;
        for (int64_t k = 0; k < w.cols; ++k) sum += xi[k] * row[k];
        y[i * w.rows + n] = sum;
      }
    }
  });
}

void matmul_rows(const float* x, int64_t m, const Weight& w, float* y) {
  ThreadPool::global().parallel_for(m, [&](int, int64_t begin, int64_t end) {
    std::vector<float> row(w.cols);
    for (int64_t i = begin; i < end; ++i) {
      float* yi = y + i * w.cols;
      for (int64_t k = 0; k < w.cols; ++k) yi[k] = 0;
      for (int64_t n = 0; n < w.rows; ++n) {
        load_row(w, n, row.data());
        float a = x[i * w.rows + n];
        for (int64_t k = 0; k < w.cols; ++k) yi[k] += a * row[k];
      }
    }
  });
}

}  // namespace dseek::scalar
