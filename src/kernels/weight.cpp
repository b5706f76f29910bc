#include "kernels/weight.h"

#include "util/error.h"

namespace dseek {

Weight Weight::slice_rows(int64_t begin, int64_t count) const {
  if (begin < 0 || count < 0 || begin + count > rows)
    fail("row slice [{}, {}) is outside a weight of {} rows", begin, begin + count, rows);
  if (const int64_t group = dtype_row_group(dtype); begin % group != 0 || count % group != 0)
    fail("row slice [{}, {}) of a {} weight splits its groups of {} interleaved rows", begin, begin + count, dtype_name(dtype), group);
  Weight view = *this;
  view.rows = count;
  view.data = static_cast<const char*>(data) + static_cast<int64_t>(row_bytes(dtype, begin * row_stride));
  view.row0 = row0 + begin;
  return view;
}

int64_t Weight::bytes() const {
  int64_t total = rows * static_cast<int64_t>(row_bytes(dtype, cols));
  if (block_scale) total += ((rows + block_rows - 1) / block_rows) * scale_cols * 4;
  return total;
}

}  // namespace dseek
