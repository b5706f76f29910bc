// Portable reference kernels: unpack each block's levels, integer dot products per sub-block,
// then the block's scales. The yardstick of the SIMD kernels, which must match them exactly
// up to float summation order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/convert.h"
#include "quant/dot.h"
#include "quant/formats.h"
#include "quant/levels.h"

namespace dseek::quant::scalar {
namespace {

int dot_i8(const uint8_t* q, const int8_t* x, int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += q[i] * x[i];
  return sum;
}

float dot_q8_0(int64_t nb, const BlockQ8_0* w, const Q8ARow& x) {
  float sum = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int s = 0;
    for (int i = 0; i < 32; ++i) s += w[b].qs[i] * x.qs[32 * b + i];
    sum += f16_to_f32(w[b].d) * x.d[b] * s;
  }
  return sum;
}

// Q4_0 / Q5_0: levels offset by half their range, d * (q - offset).
template <typename Block, int kOffset>
float dot_offset(int64_t nb, const Block* w, const Q8ARow& x) {
  float sum = 0;
  uint8_t q[32];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    sum += f16_to_f32(w[b].d) * x.d[b] * (dot_i8(q, x.qs + 32 * b, 32) - kOffset * x.sum[b]);
  }
  return sum;
}

float dot_iq4_nl(int64_t nb, const BlockIQ4_NL* w, const Q8ARow& x) {
  float sum = 0;
  uint8_t q[32];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    int s = 0;
    for (int i = 0; i < 32; ++i) s += kIq4nlValues[q[i]] * x.qs[32 * b + i];
    sum += f16_to_f32(w[b].d) * x.d[b] * s;
  }
  return sum;
}

// Q4_1 / Q5_1: d * q + m.
template <typename Block>
float dot_min(int64_t nb, const Block* w, const Q8ARow& x) {
  float sum = 0;
  uint8_t q[32];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    sum += f16_to_f32(w[b].d) * x.d[b] * dot_i8(q, x.qs + 32 * b, 32) + f16_to_f32(w[b].m) * x.d[b] * x.sum[b];
  }
  return sum;
}

float dot_q2_k(int64_t nb, const BlockQ2_K* w, const BlockQ8_K* x) {
  float sum = 0;
  uint8_t q[256];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    int scaled = 0, mins = 0;
    for (int s = 0; s < 16; ++s) {
      scaled += (w[b].scales[s] & 15) * dot_i8(q + 16 * s, x[b].qs + 16 * s, 16);
      mins += (w[b].scales[s] >> 4) * x[b].bsums[s];
    }
    sum += x[b].d * (f16_to_f32(w[b].d) * scaled - f16_to_f32(w[b].dmin) * mins);
  }
  return sum;
}

float dot_q3_k(int64_t nb, const BlockQ3_K* w, const BlockQ8_K* x) {
  float sum = 0;
  uint8_t q[256];
  int8_t sc[16];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    q3k_scales(w[b].scales, sc);
    int total = 0;
    for (int s = 0; s < 16; ++s) total += (sc[s] - 32) * (dot_i8(q + 16 * s, x[b].qs + 16 * s, 16) - 4 * x[b].bsums[s]);
    sum += x[b].d * f16_to_f32(w[b].d) * total;
  }
  return sum;
}

// Q4_K / Q5_K: 32-value sub-blocks, d * sc * q - dmin * mn.
template <typename Block>
float dot_k4(int64_t nb, const Block* w, const BlockQ8_K* x) {
  float sum = 0;
  uint8_t q[256];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    int scaled = 0, mins = 0;
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, mn;
      k4_scale_min(w[b].scales, s, sc, mn);
      scaled += sc * dot_i8(q + 32 * s, x[b].qs + 32 * q8k_slot(kBlockType<Block>, s), 32);
      mins += mn * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
    }
    sum += x[b].d * (f16_to_f32(w[b].d) * scaled - f16_to_f32(w[b].dmin) * mins);
  }
  return sum;
}

// Q4_K_R16: the 16 interleaved rows of a group, each as dot_k4 computes it.
void dot_q4_k_r16(int64_t nb, const void* w, const void* x, size_t x_stride, int nx, float* y, int64_t y_stride) {
  const auto* groups = static_cast<const BlockQ4_KR16*>(w);
  for (int r = 0; r < nx; ++r) {
    const auto* xr = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(x) + r * x_stride);
    for (int l = 0; l < 16; ++l) {
      float sum = 0;
      for (int64_t b = 0; b < nb; ++b) {
        const BlockQ4_KR16& g = groups[b];
        int scaled = 0, mins = 0;
        for (int s = 0; s < 8; ++s) {
          const int8_t* xs = xr[b].qs + 32 * q8k_slot(DType::Q4_K_R16, s);
          int dot = 0;
          for (int v = 0; v < 32; ++v) {
            const uint8_t byte = g.qs[4 * s + v / 8][4 * l + v % 4];
            dot += (v % 8 < 4 ? byte & 15 : byte >> 4) * xs[v];
          }
          scaled += g.scales[s][l] * dot;
          mins += g.mins[s / 2][l][s % 2] * (xr[b].bsums[2 * s] + xr[b].bsums[2 * s + 1]);
        }
        sum += xr[b].d * (f16_to_f32(g.d[l]) * scaled - f16_to_f32(g.dmin[l]) * mins);
      }
      y[r * y_stride + l] = sum;
    }
  }
}

float dot_q6_k(int64_t nb, const BlockQ6_K* w, const BlockQ8_K* x) {
  float sum = 0;
  uint8_t q[256];
  for (int64_t b = 0; b < nb; ++b) {
    unpack_levels(w[b], q);
    int total = 0;
    for (int s = 0; s < 16; ++s) total += w[b].scales[s] * (dot_i8(q + 16 * s, x[b].qs + 16 * s, 16) - 32 * x[b].bsums[s]);
    sum += x[b].d * f16_to_f32(w[b].d) * total;
  }
  return sum;
}

// Levels of value v of row l of block h of interleaved groups: as dot_offset and dot_q8_0 take them.
int q5_0_r16_level(const BlockQ5_0R16& g, int64_t h, int l, int v) {
  const uint8_t byte = g.qs[h][v / 8][4 * l + v % 4];
  const int fifth = g.high[h][v / 4] >> (4 * l + v % 4) & 1;
  return (v % 8 < 4 ? byte & 15 : byte >> 4) | fifth << 4;
}
int q8_0_r16_level(const BlockQ8_0R16& g, int64_t h, int l, int v) { return static_cast<int8_t>(g.qs[h][v / 4][4 * l + v % 4] ^ 0x80); }

// Q5_0_R16 and Q8_0_R16: the 16 interleaved rows of a group, each as the row kernel computes it.
template <typename Group, int kOffset, int (*Level)(const Group&, int64_t, int, int)>
void dot_q32_r16(int64_t nb, const void* w, const void* x, size_t x_stride, int nx, float* y, int64_t y_stride) {
  const auto* groups = static_cast<const Group*>(w);
  for (int r = 0; r < nx; ++r) {
    const Q8ARow xr(static_cast<const char*>(x) + r * x_stride, 64 * nb);
    for (int l = 0; l < 16; ++l) {
      float sum = 0;
      for (int64_t blk = 0; blk < 2 * nb; ++blk) {
        const Group& g = groups[blk / 2];
        const int64_t h = blk % 2;
        int dot = 0;
        for (int v = 0; v < 32; ++v) dot += Level(g, h, l, v) * xr.qs[32 * blk + v];
        sum += f16_to_f32(g.d[h][l]) * xr.d[blk] * (dot - kOffset * xr.sum[blk]);
      }
      y[r * y_stride + l] = sum;
    }
  }
}

// Adapts a one-row dot to the DotFn contract.
template <typename WBlock, typename X, float (*Dot)(int64_t, const WBlock*, X)>
void rows(int64_t nb, const void* w, const void* x, size_t x_stride, int nx, float* y, int64_t y_stride) {
  for (int r = 0; r < nx; ++r) {
    const char* row = static_cast<const char*>(x) + r * x_stride;
    if constexpr (std::is_pointer_v<X>)
      y[r * y_stride] = Dot(nb, static_cast<const WBlock*>(w), reinterpret_cast<X>(row));
    else
      y[r * y_stride] = Dot(nb, static_cast<const WBlock*>(w), Q8ARow(row, kQK * nb));
  }
}

}  // namespace

void quantize_act_row(DType weight, const float* x, void* out, int64_t k) {
  if (uses_q8k(weight)) {
    quantize_row(DType::Q8_K, x, out, k);
    auto* blocks = static_cast<BlockQ8_K*>(out);
    for (int64_t b = 0; b < k / 256; ++b) {
      int8_t in_order[256];
      std::memcpy(in_order, blocks[b].qs, 256);
      for (int s = 0; s < 8; ++s) std::memcpy(blocks[b].qs + 32 * q8k_slot(weight, s), in_order + 32 * s, 32);
    }
    return;
  }
  const Q8ARowOut row(out, k);
  pad_q8a_row(row, k);
  for (int64_t b = 0; b < k / 32; ++b, x += 32) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127, id = d > 0 ? 1 / d : 0;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      row.qs[32 * b + i] = static_cast<int8_t>(std::clamp(static_cast<int>(std::lrintf(x[i] * id)), -127, 127));
      sum += row.qs[32 * b + i];
    }
    row.d[b] = d;
    row.sum[b] = sum;
  }
}

DotFn dot_kernel(DType weight) {
  switch (weight) {
    case DType::Q8_0: return rows<BlockQ8_0, const Q8ARow&, dot_q8_0>;
    case DType::Q4_0: return rows<BlockQ4_0, const Q8ARow&, dot_offset<BlockQ4_0, 8>>;
    case DType::Q5_0: return rows<BlockQ5_0, const Q8ARow&, dot_offset<BlockQ5_0, 16>>;
    case DType::Q4_1: return rows<BlockQ4_1, const Q8ARow&, dot_min<BlockQ4_1>>;
    case DType::Q5_1: return rows<BlockQ5_1, const Q8ARow&, dot_min<BlockQ5_1>>;
    case DType::IQ4_NL: return rows<BlockIQ4_NL, const Q8ARow&, dot_iq4_nl>;
    case DType::Q2_K: return rows<BlockQ2_K, const BlockQ8_K*, dot_q2_k>;
    case DType::Q3_K: return rows<BlockQ3_K, const BlockQ8_K*, dot_q3_k>;
    case DType::Q4_K: return rows<BlockQ4_K, const BlockQ8_K*, dot_k4<BlockQ4_K>>;
    case DType::Q5_K: return rows<BlockQ5_K, const BlockQ8_K*, dot_k4<BlockQ5_K>>;
    case DType::Q6_K: return rows<BlockQ6_K, const BlockQ8_K*, dot_q6_k>;
    case DType::Q4_K_R16: return dot_q4_k_r16;
    case DType::Q5_0_R16: return dot_q32_r16<BlockQ5_0R16, 16, q5_0_r16_level>;
    case DType::Q8_0_R16: return dot_q32_r16<BlockQ8_0R16, 0, q8_0_r16_level>;
    default: return nullptr;
  }
}

}  // namespace dseek::quant::scalar
