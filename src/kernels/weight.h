// A view of a stored weight matrix in its own format: the one operand type of every kernel.
#pragma once

#include <cstdint>

#include "io/dtype.h"

namespace dseek {

// W is [rows, cols] = [N out, K in], row-major as stored (the PyTorch nn.Linear layout).
struct Weight {
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;  // first row of this view
  int64_t row_stride = 0;      // elements from one row to the next (== cols when dense; whole blocks)

  // FP8 block scales (weight_scale_inv): the scale of element (r, c) is
  // block_scale[((row0 + r) / block_rows) * scale_cols + c / block_cols].
  const float* block_scale = nullptr;
  int64_t block_rows = 0;
  int64_t block_cols = 0;
  int64_t scale_cols = 0;
  int64_t row0 = 0;  // index of this view's first row in the full tensor

  // Rows [begin, begin + count) of this matrix, sharing storage and scales: whole groups of
  // interleaved rows (dtype_row_group).
  Weight slice_rows(int64_t begin, int64_t count) const;
  // Bytes this view reads from memory (weights plus scales): what decode streams.
  int64_t bytes() const;
};

}  // namespace dseek
