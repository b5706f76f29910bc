#include "quant/quant_matmul.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "quant/dot.h"
#include "quant/repack.h"
#include "util/error.h"

namespace dseek {
namespace quant {

bool uses_q8k(DType weight) {
  switch (weight) {
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::Q4_K_R16:
      return true;
    default:
      return false;
  }
}

size_t act_row_bytes(DType weight, int64_t k) {
  return uses_q8k(weight) ? row_bytes(DType::Q8_K, k) : Q8ARow::bytes(k);
}

void quantize_act_row(DType weight, const float* x, void* out, int64_t k) {
  act_quantizer(active_dot_isa())(weight, x, out, k);
}

const char* dot_isa_name(DotIsa isa) {
  switch (isa) {
    case DotIsa::Scalar: return "scalar";
    case DotIsa::Avx2: return "avx2";
    case DotIsa::Avx512Bw: return "avx512bw";
    case DotIsa::Avx512Vnni: return "avx512vnni";
  }
  return "?";
}

bool dot_isa_supported(DotIsa isa) {
  switch (isa) {
    case DotIsa::Scalar: return true;
    case DotIsa::Avx2: return isa_supported(Isa::Avx2);
    case DotIsa::Avx512Bw: return isa_supported(Isa::Avx512);
    case DotIsa::Avx512Vnni: return isa_supported(Isa::Avx512) && cpu_features().avx512vnni;
  }
  return false;
}

DotIsa active_dot_isa() {
  switch (active_isa()) {
    case Isa::Scalar: return DotIsa::Scalar;
    case Isa::Avx2: return DotIsa::Avx2;
    case Isa::Avx512: return cpu_features().avx512vnni ? DotIsa::Avx512Vnni : DotIsa::Avx512Bw;
  }
  return DotIsa::Scalar;
}

DotFn dot_kernel(DType weight, DotIsa isa) {
  DotFn fn = nullptr;
  switch (isa) {
    case DotIsa::Scalar: break;
    case DotIsa::Avx2: fn = avx2::dot_kernel(weight); break;
    case DotIsa::Avx512Bw: fn = avx512bw::dot_kernel(weight); break;
    case DotIsa::Avx512Vnni: fn = avx512vnni::dot_kernel(weight); break;
  }
  return fn ? fn : scalar::dot_kernel(weight);
}

ActFn act_quantizer(DotIsa isa) {
  switch (isa) {
    case DotIsa::Scalar: break;
    case DotIsa::Avx2: return avx2::quantize_act_row;
    case DotIsa::Avx512Bw: return avx512bw::quantize_act_row;
    case DotIsa::Avx512Vnni: return avx512vnni::quantize_act_row;
  }
  return scalar::quantize_act_row;
}

}  // namespace quant

namespace {

void check_weight(const Weight& w, const char* what) {
  if (!is_quantized(w.dtype) || w.dtype == DType::Q8_K) fail("{}: {} is not a quantized weight format", what, dtype_name(w.dtype));
  const auto block = static_cast<int64_t>(dtype_block_elems(w.dtype));
  if (w.cols % block != 0 || w.row_stride % block != 0 || w.row_stride < w.cols)
    fail("{}: a {} weight of {} columns (row stride {}) is not whole {}-value blocks", what, dtype_name(w.dtype), w.cols,
         w.row_stride, block);
  if (const int64_t group = dtype_row_group(w.dtype); w.rows % group != 0 || (group > 1 && w.row_stride != w.cols))
    fail("{}: a {} weight of {} rows (row stride {}, {} columns) is not dense groups of {} rows", what, dtype_name(w.dtype),
         w.rows, w.row_stride, w.cols, group);
}

// A weight's rows by index (the first of its group for interleaved formats); the stride in
// bytes is worked out once, not per row of a product.
struct RowPointers {
  const char* data;
  size_t stride;
  explicit RowPointers(const Weight& w)
      : data(static_cast<const char*>(w.data)), stride(row_bytes(w.dtype, w.row_stride)) {}
  const char* operator[](int64_t r) const { return data + stride * static_cast<size_t>(r); }
};

// Blocks [b0, b1) of row n as F32: the fallbacks' way into every format. Interleaved rows are
// unpacked into `blocks` first, which callers keep from row to row.
void dequantize_blocks(const Weight& w, const RowPointers& row, int64_t n, int64_t b0, int64_t b1, float* out,
                       std::vector<unsigned char>& blocks) {
  const int64_t block = static_cast<int64_t>(dtype_block_elems(w.dtype));
  if (dtype_row_group(w.dtype) > 1) {
    const DType source = interleaved_source(w.dtype);
    blocks.resize(row_bytes(source, (b1 - b0) * block));
    unpack_interleaved_row(w, n, b0, b1 - b0, blocks.data());
    dequantize_row(source, blocks.data(), out, (b1 - b0) * block);
  } else {
    dequantize_row(w.dtype, row[n] + b0 * static_cast<int64_t>(dtype_block_bytes(w.dtype)), out, (b1 - b0) * block);
  }
}

// Weight rows per tile when many activation rows share them: a tile stays in L1/L2 while groups
// of kMaxRows activation rows pass over it, up to kChunkRows of them per work unit.
constexpr int64_t kTileRows = 16;
constexpr int64_t kChunkRows = 64;
static_assert(kTileRows % 16 == 0, "tiles hold whole groups of interleaved rows");

}  // namespace

PreparedRows quant_prepare_rows(const float* x, int64_t m, const Weight& w) {
  check_weight(w, "quant_prepare_rows");
  const int64_t k = w.cols;
  PreparedRows act;
  act.rows = std::max<int64_t>(m, 0);
  act.row_bytes = quant::act_row_bytes(w.dtype, k);
  act.bytes = std::make_unique_for_overwrite<unsigned char[]>(act.row_bytes * act.rows);
  const quant::ActFn quantize_act = quant::act_quantizer(quant::active_dot_isa());
  ThreadPool::global().parallel_for(m, [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) quantize_act(w.dtype, x + i * k, act.bytes.get() + i * act.row_bytes, k);
  });
  return act;
}

PreparedRows quant_gather_rows(const PreparedRows& from, std::span<const int64_t> rows) {
  PreparedRows out;
  out.rows = static_cast<int64_t>(rows.size());
  out.row_bytes = from.row_bytes;
  out.bytes = std::make_unique_for_overwrite<unsigned char[]>(out.row_bytes * out.rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= from.rows) fail("quant_gather_rows: row {} of {} prepared rows", rows[i], from.rows);
    std::memcpy(out.bytes.get() + i * out.row_bytes, from.bytes.get() + rows[i] * from.row_bytes, from.row_bytes);
  }
  return out;
}

void quant_matmul_prepared(const PreparedRows& prepared, int64_t first, int64_t m, const Weight& w, float* y) {
  check_weight(w, "quant_matmul_prepared");
  const int64_t k = w.cols, n_rows = w.rows, nb = k / static_cast<int64_t>(dtype_block_elems(w.dtype));
  const size_t act_bytes = quant::act_row_bytes(w.dtype, k);
  if (first < 0 || m < 0 || first + m > prepared.rows || prepared.row_bytes != act_bytes)
    fail("quant_matmul_prepared: rows [{}, {}) of {} prepared rows of {} bytes for a {} weight of {} columns", first, first + m,
         prepared.rows, prepared.row_bytes, dtype_name(w.dtype), k);
  if (m == 0 || n_rows == 0) return;
  const unsigned char* act = prepared.bytes.get() + first * act_bytes;
  ThreadPool& pool = ThreadPool::global();
  const quant::DotFn dot = quant::dot_kernel(w.dtype, quant::active_dot_isa());
  const RowPointers row(w);

  if (quant::active_dot_isa() == quant::DotIsa::Avx512Vnni) {
    const quant::avx512vnni::Gemm gemm = quant::avx512vnni::gemm_kernel(w.dtype);
    if (gemm.run && m >= gemm.min_rows) {
      gemm.run(m, act, act_bytes, w.data, row_bytes(w.dtype, w.row_stride), n_rows, k, y);
      return;
    }
  }
  const int64_t group = dtype_row_group(w.dtype);  // rows one dot call covers
  if (m <= quant::kMaxRows) {  // decode: stream every weight row once, split over the threads
    const int64_t group_bytes = group * static_cast<int64_t>(row.stride);
    pool.parallel_pieces(n_rows / group, (matvec_piece_bytes(n_rows * static_cast<int64_t>(row.stride)) + group_bytes - 1) / group_bytes, [&](int, int64_t begin, int64_t end) {
      for (int64_t n = begin * group; n < end * group; n += group)
        dot(nb, row[n], act, act_bytes, static_cast<int>(m), y + n, n_rows);
    });
    return;
  }
  // Work units: a weight tile against a chunk of activation rows, tile-major so that a thread's
  // consecutive units reuse a tile from cache; chunks let small N still spread over threads.
  const int64_t tiles = (n_rows + kTileRows - 1) / kTileRows, chunks = (m + kChunkRows - 1) / kChunkRows;
  pool.parallel_for(tiles * chunks, [&](int, int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t n0 = u / chunks * kTileRows, n1 = std::min(n_rows, n0 + kTileRows);
      const int64_t i0 = u % chunks * kChunkRows, i1 = std::min(m, i0 + kChunkRows);
      for (int64_t i = i0; i < i1; i += quant::kMaxRows) {
        const int nx = static_cast<int>(std::min<int64_t>(quant::kMaxRows, i1 - i));
        for (int64_t n = n0; n < n1; n += group)
          dot(nb, row[n], act + i * act_bytes, act_bytes, nx, y + i * n_rows + n, n_rows);
      }
    }
  });
}

void quant_matmul(const float* x, int64_t m, const Weight& w, float* y) {
  check_weight(w, "quant_matmul");
  if (m <= 0 || w.rows == 0) return;
  quant_matmul_prepared(quant_prepare_rows(x, m, w), 0, m, w, y);
}

void quant_matvec_rows(const PreparedRows& act, const Weight& w, int64_t r0, int64_t r1, float* y) {
  const int64_t group = dtype_row_group(w.dtype);
  if (act.rows != 1 || act.row_bytes != quant::act_row_bytes(w.dtype, w.cols) || r0 < 0 || r1 > w.rows || r0 % group != 0 ||
      r1 % group != 0)
    fail("quant_matvec_rows: rows [{}, {}) of a {} weight [{}, {}] with {} prepared rows of {} bytes", r0, r1,
         dtype_name(w.dtype), w.rows, w.cols, act.rows, act.row_bytes);
  const quant::DotFn dot = quant::dot_kernel(w.dtype, quant::active_dot_isa());
  const RowPointers row(w);
  const int64_t nb = w.cols / static_cast<int64_t>(dtype_block_elems(w.dtype));
  for (int64_t n = r0; n < r1; n += group) dot(nb, row[n], act.bytes.get(), act.row_bytes, 1, y + n, w.rows);
}

void quant_matmul_rows(const float* x, int64_t m, const Weight& w, float* y) {
  check_weight(w, "quant_matmul_rows");
  const int64_t k = w.cols, block = static_cast<int64_t>(dtype_block_elems(w.dtype)), nb = k / block;
  const RowPointers weight_row(w);
  // Threads own column ranges (whole blocks), so that a single activation row splits too.
  ThreadPool::global().parallel_for(nb, [&](int, int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * block, cols = (b1 - b0) * block;
    std::vector<float> row(cols);
    std::vector<unsigned char> blocks;
    for (int64_t i = 0; i < m; ++i) std::fill(y + i * k + c0, y + i * k + c0 + cols, 0.0f);
    for (int64_t n = 0; n < w.rows; ++n) {
      dequantize_blocks(w, weight_row, n, b0, b1, row.data(), blocks);
      for (int64_t i = 0; i < m; ++i) {
        const float a = x[i * w.rows + n];
        float* yi = y + i * k + c0;
        for (int64_t c = 0; c < cols; ++c) yi[c] += a * row[c];
      }
    }
  });
}

void quant_dequantize_rows(const Weight& w, int64_t begin, int64_t count, float* out) {
  check_weight(w, "quant_dequantize_rows");
  if (begin < 0 || count < 0 || begin + count > w.rows)
    fail("quant_dequantize_rows: rows [{}, {}) are outside a weight of {} rows", begin, begin + count, w.rows);
  const RowPointers row(w);
  const int64_t nb = w.cols / static_cast<int64_t>(dtype_block_elems(w.dtype));
  std::vector<unsigned char> blocks;
  for (int64_t r = 0; r < count; ++r) dequantize_blocks(w, row, begin + r, 0, nb, out + r * w.cols, blocks);
}

}  // namespace dseek
