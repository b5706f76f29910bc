#include "quant/repack.h"

#include <cstring>

#include "quant/dot.h"
#include "quant/formats.h"
#include "util/error.h"

namespace dseek {
namespace {

constexpr int kGroup = 16;

// A Q4_K block's qs[32h + i] holds value 64h + i in its low nibble and 64h + 32 + i in its high
// one: values 8j..8j+7 (j = 8h + 4 * half + g) are nibble `half` of bytes 32h + 8g .. + 8, so
// a dword of the interleaved line is two source dwords' nibbles.
void interleave(const BlockQ4_K* const rows[kGroup], BlockQ4_KR16& out) {
  for (int l = 0; l < kGroup; ++l) {
    const BlockQ4_K& b = *rows[l];
    for (int j = 0; j < 32; ++j) {
      const int h = j / 8, half = j / 4 % 2, g = j % 4;
      uint32_t first, second;
      std::memcpy(&first, b.qs + 32 * h + 8 * g, 4);
      std::memcpy(&second, b.qs + 32 * h + 8 * g + 4, 4);
      const uint32_t dword = (first >> 4 * half & 0x0f0f0f0f) | (second >> 4 * half & 0x0f0f0f0f) << 4;
      std::memcpy(out.qs[j] + 4 * l, &dword, 4);
    }
    for (int s = 0; s < 8; ++s) k4_scale_min(b.scales, s, out.scales[s][l], out.mins[s / 2][l][s % 2]);
    out.d[l] = b.d;
    out.dmin[l] = b.dmin;
  }
}

// Row l of an interleaved block back as Q4_K, 6-bit scales and mins packed as k4_scale_min reads them.
void deinterleave(const BlockQ4_KR16& in, int l, BlockQ4_K& b) {
  b.d = in.d[l];
  b.dmin = in.dmin[l];
  auto scale = [&](int s) { return in.scales[s][l]; };
  auto min = [&](int s) { return in.mins[s / 2][l][s % 2]; };
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(scale(j) | (scale(j + 4) >> 4) << 6);
    b.scales[j + 4] = static_cast<uint8_t>(min(j) | (min(j + 4) >> 4) << 6);
    b.scales[j + 8] = static_cast<uint8_t>((scale(j + 4) & 15) | (min(j + 4) & 15) << 4);
  }
  for (int v = 0; v < 256; ++v) {
    const uint8_t byte = in.qs[v / 8][4 * l + v % 4];
    const int level = v % 8 < 4 ? byte & 15 : byte >> 4;
    uint8_t& to = b.qs[32 * (v / 64) + v % 32];
    to = static_cast<uint8_t>(v % 64 < 32 ? (to & 0xf0) | level : (to & 0x0f) | level << 4);
  }
}

// The low four bits of value v of a Q5_0 (or Q4_0) block.
uint8_t q5_0_nibble(const BlockQ5_0& b, int v) { return v < 16 ? b.qs[v] & 15 : b.qs[v - 16] >> 4; }

// Blocks h = 0, 1 from rows[l][h].
void interleave(const BlockQ5_0* const rows[kGroup], BlockQ5_0R16& out) {
  std::memset(out.high, 0, sizeof out.high);
  for (int l = 0; l < kGroup; ++l)
    for (int h = 0; h < 2; ++h) {
      const BlockQ5_0& b = rows[l][h];
      out.d[h][l] = b.d;
      uint32_t qh;
      std::memcpy(&qh, b.qh, 4);
      for (int j = 0; j < 4; ++j)
        for (int c = 0; c < 4; ++c)
          out.qs[h][j][4 * l + c] = static_cast<uint8_t>(q5_0_nibble(b, 8 * j + c) | q5_0_nibble(b, 8 * j + 4 + c) << 4);
      for (int i = 0; i < 8; ++i) out.high[h][i] |= uint64_t{qh >> 4 * i & 15} << 4 * l;
    }
}

void deinterleave(const BlockQ5_0R16& in, int h, int l, BlockQ5_0& b) {
  b.d = in.d[h][l];
  uint32_t qh = 0;
  for (int i = 0; i < 8; ++i) qh |= static_cast<uint32_t>(in.high[h][i] >> 4 * l & 15) << 4 * i;
  std::memcpy(b.qh, &qh, 4);
  for (int v = 0; v < 32; ++v) {
    const uint8_t byte = in.qs[h][v / 8][4 * l + v % 4];
    const int level = v % 8 < 4 ? byte & 15 : byte >> 4;
    uint8_t& to = b.qs[v % 16];
    to = static_cast<uint8_t>(v < 16 ? (to & 0xf0) | level : (to & 0x0f) | level << 4);
  }
}

// Blocks h = 0, 1 from rows[l][h].
void interleave(const BlockQ8_0* const rows[kGroup], BlockQ8_0R16& out) {
  for (int l = 0; l < kGroup; ++l)
    for (int h = 0; h < 2; ++h) {
      out.d[h][l] = rows[l][h].d;
      for (int v = 0; v < 32; ++v) out.qs[h][v / 4][4 * l + v % 4] = static_cast<uint8_t>(rows[l][h].qs[v] ^ 0x80);
    }
}

void deinterleave(const BlockQ8_0R16& in, int h, int l, BlockQ8_0& b) {
  b.d = in.d[h][l];
  for (int v = 0; v < 32; ++v) b.qs[v] = static_cast<int8_t>(in.qs[h][v / 4][4 * l + v % 4] ^ 0x80);
}

// Source blocks per interleaved block and row.
int64_t source_blocks(DType interleaved) { return interleaved == DType::Q4_K_R16 ? 1 : 2; }

template <typename Source, typename Interleaved>
void interleave_matrix(const Weight& w, int64_t nb, Interleaved* out) {
  const int64_t per_block = source_blocks(quant::kBlockType<Interleaved>);
  const auto* in = static_cast<const Source*>(w.data);
  for (int64_t g = 0; g < w.rows / kGroup; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      const Source* rows[kGroup];
      for (int l = 0; l < kGroup; ++l) rows[l] = in + ((g * kGroup + l) * nb + b) * per_block;
      interleave(rows, out[g * nb + b]);
    }
}

}  // namespace

DType interleaved_source(DType interleaved) {
  switch (interleaved) {
    case DType::Q4_K_R16: return DType::Q4_K;
    case DType::Q5_0_R16: return DType::Q5_0;
    case DType::Q8_0_R16: return DType::Q8_0;
    default: fail("{} is not an interleaved format", dtype_name(interleaved));
  }
}

std::optional<DType> repacked_dtype(const Weight& w) {
  if (w.rows % kGroup != 0 || w.row_stride != w.cols || w.block_scale) return std::nullopt;
  if (quant::active_dot_isa() != quant::DotIsa::Avx512Vnni) return std::nullopt;
  if (w.dtype == DType::Q4_K) return DType::Q4_K_R16;
  if (w.dtype == DType::Q5_0 && w.cols % 64 == 0) return DType::Q5_0_R16;
  if (w.dtype == DType::Q8_0 && w.cols % 64 == 0) return DType::Q8_0_R16;
  return std::nullopt;
}

Weight repack(const Weight& w, DType to, void* out) {
  if (dtype_row_group(to) == 1) fail("cannot repack to {}: not an interleaved format", dtype_name(to));
  if (w.dtype != interleaved_source(to))
    fail("cannot repack a {} weight to {}: it takes {}", dtype_name(w.dtype), dtype_name(to), dtype_name(interleaved_source(to)));
  if (w.rows % kGroup != 0 || w.row_stride != w.cols || w.cols % static_cast<int64_t>(dtype_block_elems(to)) != 0)
    fail("cannot repack a {} weight of {} rows (row stride {}, {} columns) to {}: it needs dense rows in groups of {} and "
         "whole {}-value blocks", dtype_name(w.dtype), w.rows, w.row_stride, w.cols, dtype_name(to), kGroup, dtype_block_elems(to));
  if (reinterpret_cast<uintptr_t>(out) % 64 != 0) fail("repack: the output is not 64-byte aligned");
  const int64_t nb = w.cols / static_cast<int64_t>(dtype_block_elems(to));
  if (to == DType::Q4_K_R16) interleave_matrix<BlockQ4_K>(w, nb, static_cast<BlockQ4_KR16*>(out));
  else if (to == DType::Q5_0_R16) interleave_matrix<BlockQ5_0>(w, nb, static_cast<BlockQ5_0R16*>(out));
  else interleave_matrix<BlockQ8_0>(w, nb, static_cast<BlockQ8_0R16*>(out));
  Weight view = w;
  view.dtype = to;
  view.data = out;
  return view;
}

void unpack_interleaved_row(const Weight& w, int64_t row, int64_t b0, int64_t count, void* out) {
  const DType source = interleaved_source(w.dtype);
  const int64_t nb = w.row_stride / static_cast<int64_t>(dtype_block_elems(w.dtype)), l = row % kGroup;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t at = row / kGroup * nb + b0 + b;
    if (source == DType::Q4_K) {
      deinterleave(static_cast<const BlockQ4_KR16*>(w.data)[at], static_cast<int>(l), static_cast<BlockQ4_K*>(out)[b]);
    } else {
      for (int h = 0; h < 2; ++h) {
        if (source == DType::Q5_0)
          deinterleave(static_cast<const BlockQ5_0R16*>(w.data)[at], h, static_cast<int>(l), static_cast<BlockQ5_0*>(out)[2 * b + h]);
        else
          deinterleave(static_cast<const BlockQ8_0R16*>(w.data)[at], h, static_cast<int>(l), static_cast<BlockQ8_0*>(out)[2 * b + h]);
      }
    }
  }
}

}  // namespace dseek
