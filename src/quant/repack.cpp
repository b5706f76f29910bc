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

}  // namespace

std::optional<DType> repacked_dtype(const Weight& w) {
  if (w.dtype != DType::Q4_K || w.rows % kGroup != 0 || w.row_stride != w.cols || w.block_scale) return std::nullopt;
  if (quant::active_dot_isa() != quant::DotIsa::Avx512Vnni) return std::nullopt;
  return DType::Q4_K_R16;
}

Weight repack(const Weight& w, DType to, void* out) {
  if (w.dtype != DType::Q4_K || to != DType::Q4_K_R16)
    fail("cannot repack a {} weight to {}: only Q4_K to Q4_K_R16", dtype_name(w.dtype), dtype_name(to));
  if (w.rows % kGroup != 0 || w.row_stride != w.cols)
    fail("cannot repack a Q4_K weight of {} rows (row stride {}, {} columns): it needs dense rows in groups of {}", w.rows,
         w.row_stride, w.cols, kGroup);
  if (reinterpret_cast<uintptr_t>(out) % alignof(BlockQ4_KR16) != 0) fail("repack: the output is not 64-byte aligned");
  const int64_t nb = w.cols / 256;
  const auto* in = static_cast<const BlockQ4_K*>(w.data);
  auto* groups = static_cast<BlockQ4_KR16*>(out);
  for (int64_t g = 0; g < w.rows / kGroup; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_K* rows[kGroup];
      for (int l = 0; l < kGroup; ++l) rows[l] = in + (g * kGroup + l) * nb + b;
      interleave(rows, groups[g * nb + b]);
    }
  Weight view = w;
  view.dtype = to;
  view.data = out;
  return view;
}

void unpack_q4_k_r16_row(const Weight& w, int64_t row, int64_t b0, int64_t count, BlockQ4_K* out) {
  if (w.dtype != DType::Q4_K_R16) fail("unpack_q4_k_r16_row: the weight is {}, not Q4_K_R16", dtype_name(w.dtype));
  const int64_t nb = w.row_stride / 256;
  const auto* group = static_cast<const BlockQ4_KR16*>(w.data) + row / kGroup * nb;
  for (int64_t b = 0; b < count; ++b) deinterleave(group[b0 + b], static_cast<int>(row % kGroup), out[b]);
}

}  // namespace dseek
