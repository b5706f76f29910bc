#include "quant/formats.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/convert.h"
#include "quant/blocks.h"
#include "quant/levels.h"
#include "util/error.h"

namespace dseek {
namespace {

// lrintf rather than a cast: out-of-range and NaN inputs give an unspecified value, not UB.
int nearest(float v) { return static_cast<int>(std::lrintf(v)); }
int round_half_up(float v) { return nearest(std::floor(v + 0.5f)); }
int clamp_int(int v, int lo, int hi) { return std::min(hi, std::max(lo, v)); }
float half(uint16_t bits) { return f16_to_f32(bits); }
uint16_t to_half(float v) { return f32_to_f16(v); }

// The value of largest magnitude, with its sign (0 for an all-zero block).
float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  return max;
}

// ---- scale searches for the K-quants ------------------------------------------------------

// Fits x ≈ scale * q + offset with q in [0, nmax] and offset <= 0, minimising the weighted
// squared error. Each candidate inverse scale (nmax + rmin + rdelta*k) / (max - min) gives a
// level assignment; for fixed levels scale and offset solve 2x2 normal equations. Returns scale
// and writes -offset to `neg_offset`.
float fit_scale_offset(int n, int nmax, const float* x, const float* w, uint8_t* L, float& neg_offset,
                       float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
  }
  min = std::min(min, 0.0f);
  if (!(max > min)) {  // constant block (or NaN): the offset alone represents it
    std::fill(L, L + n, 0);
    neg_offset = std::isfinite(min) ? -min : 0.0f;
    return 0;
  }
  float sum_w = 0, sum_wx = 0;
  for (int i = 0; i < n; ++i) {
    sum_w += w[i];
    sum_wx += w[i] * x[i];
  }
  auto error = [&](const uint8_t* levels, float scale, float offset) {
    float e = 0;
    for (int i = 0; i < n; ++i) {
      float diff = scale * levels[i] + offset - x[i];
      e += w[i] * diff * diff;
    }
    return e;
  };
  // Start from the plain min/max grid.
  float best_scale = (max - min) / nmax, best_offset = min;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(clamp_int(nearest((x[i] - min) / best_scale), 0, nmax));
  float best_error = error(L, best_scale, best_offset);

  uint8_t trial[32];
  for (int k = 0; k <= nstep; ++k) {
    float iscale = (rmin + rdelta * k + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = clamp_int(nearest(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float scale = (sum_w * sum_xl - sum_wx * sum_l) / det;
    float offset = (sum_l2 * sum_wx - sum_l * sum_xl) / det;
    if (offset > 0) {  // the format only subtracts: refit the scale through zero
      offset = 0;
      scale = sum_xl / sum_l2;
    }
    float e = error(trial, scale, offset);
    if (e < best_error) {
      best_error = e;
      best_scale = scale;
      best_offset = offset;
      std::memcpy(L, trial, n);
    }
  }
  neg_offset = -best_offset;
  return best_scale;
}

// Fits x ≈ scale * q with q in [-nmax, nmax - 1]. The largest-magnitude value is sent to
// -nmax (the side with the extra level); inverse scales around that are tried and the one
// maximising (sum w x q)^2 / sum w q^2, i.e. minimising the weighted error, wins.
float fit_scale_symmetric(int n, int nmax, const float* x, const float* w) {
  float max = signed_absmax(x, n);
  if (max == 0 || !std::isfinite(max)) return 0;
  float best_scale = 0, best_score = -1;
  for (int k = -9; k <= 9; ++k) {
    float iscale = -(nmax + 0.1f * k) / max;
    float sum_xl = 0, sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = clamp_int(nearest(iscale * x[i]), -nmax, nmax - 1);
      sum_xl += w[i] * x[i] * l;
      sum_l2 += w[i] * l * l;
    }
    if (sum_l2 > 0 && sum_xl * sum_xl / sum_l2 > best_score) {
      best_score = sum_xl * sum_xl / sum_l2;
      best_scale = sum_xl / sum_l2;
    }
  }
  return best_score > 0 ? best_scale : -max / nmax;
}

// ---- 32-value blocks ------------------------------------------------------------------------

void quantize_q8_0(const float* x, BlockQ8_0* b) {
  float amax = std::fabs(signed_absmax(x, kQK));
  float d = amax / 127, id = d ? 1 / d : 0;
  b->d = to_half(d);
  for (int i = 0; i < kQK; ++i) b->qs[i] = static_cast<int8_t>(clamp_int(nearest(x[i] * id), -127, 127));
}
void dequantize_q8_0(const BlockQ8_0* b, float* y) {
  float d = half(b->d);
  for (int i = 0; i < kQK; ++i) y[i] = d * b->qs[i];
}

// Symmetric 4/5-bit: the largest-magnitude value maps to level 0 (-2^(bits-1) after the shift).
template <int kLevels>
void quantize_symmetric_nibbles(const float* x, uint16_t& d_out, uint8_t* q) {
  float max = signed_absmax(x, kQK);
  float d = max / -(kLevels / 2), id = d ? 1 / d : 0;
  d_out = to_half(d);
  for (int i = 0; i < kQK; ++i)
    q[i] = static_cast<uint8_t>(clamp_int(round_half_up(x[i] * id + kLevels / 2), 0, kLevels - 1));
}
template <int kLevels>
void quantize_affine_nibbles(const float* x, uint16_t& d_out, uint16_t& m_out, uint8_t* q) {
  float min = x[0], max = x[0];
  for (int i = 1; i < kQK; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
  }
  float d = (max - min) / (kLevels - 1), id = d ? 1 / d : 0;
  d_out = to_half(d);
  m_out = to_half(min);
  for (int i = 0; i < kQK; ++i)
    q[i] = static_cast<uint8_t>(clamp_int(round_half_up((x[i] - min) * id), 0, kLevels - 1));
}

// Value i < 16 in the low nibble of byte i, value i + 16 in its high nibble.
void pack_nibbles(const uint8_t* q, uint8_t* qs) {
  for (int i = 0; i < 16; ++i) qs[i] = static_cast<uint8_t>((q[i] & 15) | ((q[i + 16] & 15) << 4));
}
// Bit i of the little-endian u32 qh: the fifth bit of value i.
void pack_fifth_bits(const uint8_t* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (int i = 0; i < kQK; ++i) bits |= static_cast<uint32_t>((q[i] >> 4) & 1) << i;
  for (int i = 0; i < 4; ++i) qh[i] = static_cast<uint8_t>(bits >> (8 * i));
}

void quantize_q4_0(const float* x, BlockQ4_0* b) {
  uint8_t q[kQK];
  quantize_symmetric_nibbles<16>(x, b->d, q);
  pack_nibbles(q, b->qs);
}
void dequantize_q4_0(const BlockQ4_0* b, float* y) {
  uint8_t q[kQK];
  unpack_levels(*b, q);
  float d = half(b->d);
  for (int i = 0; i < kQK; ++i) y[i] = d * (q[i] - 8);
}
void quantize_q4_1(const float* x, BlockQ4_1* b) {
  uint8_t q[kQK];
  quantize_affine_nibbles<16>(x, b->d, b->m, q);
  pack_nibbles(q, b->qs);
}
void dequantize_q4_1(const BlockQ4_1* b, float* y) {
  uint8_t q[kQK];
  unpack_levels(*b, q);
  float d = half(b->d), m = half(b->m);
  for (int i = 0; i < kQK; ++i) y[i] = d * q[i] + m;
}
void quantize_q5_0(const float* x, BlockQ5_0* b) {
  uint8_t q[kQK];
  quantize_symmetric_nibbles<32>(x, b->d, q);
  pack_nibbles(q, b->qs);
  pack_fifth_bits(q, b->qh);
}
void dequantize_q5_0(const BlockQ5_0* b, float* y) {
  uint8_t q[kQK];
  unpack_levels(*b, q);
  float d = half(b->d);
  for (int i = 0; i < kQK; ++i) y[i] = d * (q[i] - 16);
}
void quantize_q5_1(const float* x, BlockQ5_1* b) {
  uint8_t q[kQK];
  quantize_affine_nibbles<32>(x, b->d, b->m, q);
  pack_nibbles(q, b->qs);
  pack_fifth_bits(q, b->qh);
}
void dequantize_q5_1(const BlockQ5_1* b, float* y) {
  uint8_t q[kQK];
  unpack_levels(*b, q);
  float d = half(b->d), m = half(b->m);
  for (int i = 0; i < kQK; ++i) y[i] = d * q[i] + m;
}

// The codebook entry nearest to v.
int nearest_iq4nl(float v) {
  int best = 0;
  for (int j = 1; j < 16; ++j)
    if (std::fabs(v - kIq4nlValues[j]) < std::fabs(v - kIq4nlValues[best])) best = j;
  return best;
}

// IQ4_NL: the codebook is asymmetric (-127..113), so both signs of the scale are tried, over a
// range of magnitudes around max|x| / 127; each assignment of entries gets its least-squares
// scale, and the one with the smallest squared error wins.
void quantize_iq4_nl(const float* x, BlockIQ4_NL* b) {
  const float amax = std::fabs(signed_absmax(x, kQK));
  uint8_t q[kQK] = {}, trial[kQK];
  float best_d = 0, best_error = 0;
  for (int i = 0; i < kQK; ++i) best_error += x[i] * x[i];  // the error of d = 0
  for (int sign = -1; sign <= 1 && amax > 0 && std::isfinite(amax); sign += 2)
    for (int k = 0; k < 16; ++k) {
      const float id = sign * 127 / (amax * (0.85f + 0.02f * k));
      float sum_xv = 0, sum_vv = 0;
      for (int i = 0; i < kQK; ++i) {
        trial[i] = static_cast<uint8_t>(nearest_iq4nl(x[i] * id));
        sum_xv += x[i] * kIq4nlValues[trial[i]];
        sum_vv += kIq4nlValues[trial[i]] * kIq4nlValues[trial[i]];
      }
      const float d = sum_xv / sum_vv;
      float e = 0;
      for (int i = 0; i < kQK; ++i) e += (x[i] - d * kIq4nlValues[trial[i]]) * (x[i] - d * kIq4nlValues[trial[i]]);
      if (e < best_error) {
        best_error = e;
        best_d = d;
        std::memcpy(q, trial, kQK);
      }
    }
  b->d = to_half(best_d);
  pack_nibbles(q, b->qs);
}
void dequantize_iq4_nl(const BlockIQ4_NL* b, float* y) {
  uint8_t q[kQK];
  unpack_levels(*b, q);
  float d = half(b->d);
  for (int i = 0; i < kQK; ++i) y[i] = d * kIq4nlValues[q[i]];
}

// ---- K-quants -----------------------------------------------------------------------------

// 2-bit fields: value 128*h + 32*j + l sits at bits 2j of byte 32*h + l (Q2_K, Q3_K).
void pack_crumbs(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
    }
}

// 4-bit fields of Q4_K/Q5_K: value 64*c + l in the low nibble of byte 32*c + l, value 64*c+32+l in the high one.
void pack_k_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      qs[32 * c + l] = static_cast<uint8_t>((L[64 * c + l] & 15) | ((L[64 * c + 32 + l] & 15) << 4));
}

void pack_k4_scales(const uint8_t* sc, const uint8_t* mn, uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = sc[j];
      scales[j + 4] = mn[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((sc[j] & 15) | ((mn[j] & 15) << 4));
      scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

// Shared by Q2_K, Q4_K, Q5_K: sub-blocks of `sub` values fitted with scale and min, both
// quantized to `scale_bits` against the super-block's d and dmin; then levels are recomputed
// against the scales as stored.
struct AffineK {
  float d, dmin;
  uint8_t sc[16], mn[16];
  uint8_t L[kQKK];
};
AffineK fit_affine_k(const float* x, int sub, int nmax, int scale_bits, float rmin, float rdelta, int nstep,
                     bool rms_weights) {
  AffineK r{};
  const int nsub = kQKK / sub, smax = (1 << scale_bits) - 1;
  float scales[16], mins[16], w[32];
  float sum_x2 = 0;
  for (int i = 0; i < kQKK; ++i) sum_x2 += x[i] * x[i];
  // Larger values weigh more: they dominate the products the weights enter.
  float floor_weight = rms_weights ? std::sqrt(sum_x2 / kQKK) : 0.0f;
  for (int j = 0; j < nsub; ++j) {
    const float* xs = x + sub * j;
    for (int i = 0; i < sub; ++i) w[i] = floor_weight + std::fabs(xs[i]);
    scales[j] = fit_scale_offset(sub, nmax, xs, w, r.L + sub * j, mins[j], rmin, rdelta, nstep);
  }
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < nsub; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  float inv_scale = max_scale > 0 ? smax / max_scale : 0, inv_min = max_min > 0 ? smax / max_min : 0;
  for (int j = 0; j < nsub; ++j) {
    r.sc[j] = static_cast<uint8_t>(clamp_int(nearest(inv_scale * scales[j]), 0, smax));
    r.mn[j] = static_cast<uint8_t>(clamp_int(nearest(inv_min * mins[j]), 0, smax));
  }
  r.d = half(to_half(max_scale / smax));
  r.dmin = half(to_half(max_min / smax));
  for (int j = 0; j < nsub; ++j) {
    float d = r.d * r.sc[j], dm = r.dmin * r.mn[j];
    for (int i = 0; i < sub; ++i) {
      int idx = sub * j + i;
      r.L[idx] = d ? static_cast<uint8_t>(clamp_int(nearest((x[idx] + dm) / d), 0, nmax)) : 0;
    }
  }
  return r;
}

void quantize_q2_k(const float* x, BlockQ2_K* b) {
  AffineK f = fit_affine_k(x, 16, 3, 4, -0.5f, 0.1f, 15, false);
  b->d = to_half(f.d);
  b->dmin = to_half(f.dmin);
  for (int j = 0; j < 16; ++j) b->scales[j] = static_cast<uint8_t>(f.sc[j] | (f.mn[j] << 4));
  pack_crumbs(f.L, b->qs);
}
void dequantize_q2_k(const BlockQ2_K* b, float* y) {
  uint8_t q[kQKK];
  unpack_levels(*b, q);
  float d = half(b->d), dmin = half(b->dmin);
  for (int i = 0; i < kQKK; ++i) {
    uint8_t s = b->scales[i / 16];
    y[i] = d * (s & 15) * q[i] - dmin * (s >> 4);
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* b) {
  AffineK f = fit_affine_k(x, 32, 15, 6, -1.0f, 0.1f, 20, true);
  b->d = to_half(f.d);
  b->dmin = to_half(f.dmin);
  pack_k4_scales(f.sc, f.mn, b->scales);
  pack_k_nibbles(f.L, b->qs);
}
// Q4_K and Q5_K: 32-value sub-blocks with 6-bit scales and mins.
template <typename Block>
void dequantize_k4(const Block* b, float* y) {
  uint8_t q[kQKK];
  unpack_levels(*b, q);
  float d = half(b->d), dmin = half(b->dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    k4_scale_min(b->scales, j, sc, mn);
    for (int i = 32 * j; i < 32 * j + 32; ++i) y[i] = d * sc * q[i] - dmin * mn;
  }
}
void dequantize_q4_k(const BlockQ4_K* b, float* y) { dequantize_k4(b, y); }

void quantize_q5_k(const float* x, BlockQ5_K* b) {
  AffineK f = fit_affine_k(x, 32, 31, 6, -0.5f, 0.1f, 15, true);
  b->d = to_half(f.d);
  b->dmin = to_half(f.dmin);
  pack_k4_scales(f.sc, f.mn, b->scales);
  pack_k_nibbles(f.L, b->qs);
  std::memset(b->qh, 0, sizeof b->qh);
  for (int i = 0; i < kQKK; ++i) b->qh[i % 32] |= static_cast<uint8_t>((f.L[i] >> 4) << (i / 32));
}
void dequantize_q5_k(const BlockQ5_K* b, float* y) { dequantize_k4(b, y); }

// Shared by Q3_K and Q6_K: sixteen 16-value sub-blocks with signed scales, levels in
// [-nmax, nmax-1]; scales quantized to [-smax, smax-1] against d, then levels recomputed.
struct SymmetricK {
  float d;
  int sc[16];
  int L[kQKK];  // signed levels
};
SymmetricK fit_symmetric_k(const float* x, int nmax, int smax) {
  SymmetricK r{};
  float scales[16], w[16];
  for (int j = 0; j < 16; ++j) {
    const float* xs = x + 16 * j;
    for (int i = 0; i < 16; ++i) w[i] = xs[i] * xs[i];
    scales[j] = fit_scale_symmetric(16, nmax, xs, w);
  }
  float max_scale = signed_absmax(scales, 16);
  if (max_scale == 0) return r;
  float iscale = -smax / max_scale;
  r.d = half(to_half(1 / iscale));
  for (int j = 0; j < 16; ++j) r.sc[j] = clamp_int(nearest(iscale * scales[j]), -smax, smax - 1);
  for (int j = 0; j < 16; ++j) {
    float d = r.d * r.sc[j];
    for (int i = 16 * j; i < 16 * j + 16; ++i) r.L[i] = d ? clamp_int(nearest(x[i] / d), -nmax, nmax - 1) : 0;
  }
  return r;
}

void quantize_q3_k(const float* x, BlockQ3_K* b) {
  SymmetricK f = fit_symmetric_k(x, 4, 32);
  b->d = to_half(f.d);
  std::memset(b->scales, 0, sizeof b->scales);
  for (int i = 0; i < 16; ++i) {
    int s = f.sc[i] + 32;
    b->scales[i % 8] |= static_cast<uint8_t>((s & 15) << (i < 8 ? 0 : 4));
    b->scales[8 + i % 4] |= static_cast<uint8_t>((s >> 4) << (2 * (i / 4)));
  }
  uint8_t low[kQKK];
  std::memset(b->hmask, 0, sizeof b->hmask);
  for (int i = 0; i < kQKK; ++i) {
    int q = f.L[i] + 4;  // 0..7
    low[i] = static_cast<uint8_t>(q & 3);
    b->hmask[i % 32] |= static_cast<uint8_t>((q >> 2) << (i / 32));
  }
  pack_crumbs(low, b->qs);
}
void dequantize_q3_k(const BlockQ3_K* b, float* y) {
  int8_t sc[16];
  q3k_scales(b->scales, sc);
  uint8_t q[kQKK];
  unpack_levels(*b, q);
  float d = half(b->d);
  for (int i = 0; i < kQKK; ++i) y[i] = d * (sc[i / 16] - 32) * (q[i] - 4);
}

// Q6_K layout: see unpack_levels in quant/levels.cpp.
void quantize_q6_k(const float* x, BlockQ6_K* b) {
  SymmetricK f = fit_symmetric_k(x, 32, 128);
  b->d = to_half(f.d);
  for (int j = 0; j < 16; ++j) b->scales[j] = static_cast<int8_t>(f.sc[j]);
  std::memset(b->ql, 0, sizeof b->ql);
  std::memset(b->qh, 0, sizeof b->qh);
  for (int i = 0; i < kQKK; ++i) {
    int q = f.L[i] + 32, h = i / 128, j = (i % 128) / 32, l = i % 32;
    b->ql[64 * h + 32 * (j % 2) + l] |= static_cast<uint8_t>((q & 15) << (4 * (j / 2)));
    b->qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * j));
  }
}
void dequantize_q6_k(const BlockQ6_K* b, float* y) {
  uint8_t q[kQKK];
  unpack_levels(*b, q);
  float d = half(b->d);
  for (int i = 0; i < kQKK; ++i) y[i] = d * b->scales[i / 16] * (q[i] - 32);
}

void quantize_q8_k(const float* x, BlockQ8_K* b) {
  float amax = std::fabs(signed_absmax(x, kQKK));
  float d = amax / 127, id = d ? 1 / d : 0;
  b->d = d;
  for (int i = 0; i < kQKK; ++i) b->qs[i] = static_cast<int8_t>(clamp_int(nearest(x[i] * id), -127, 127));
  for (int j = 0; j < 16; ++j) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += b->qs[16 * j + i];
    b->bsums[j] = static_cast<int16_t>(sum);
  }
}
void dequantize_q8_k(const BlockQ8_K* b, float* y) {
  for (int i = 0; i < kQKK; ++i) y[i] = b->d * b->qs[i];
}

// Applies fn(block, values) to every block of a row.
template <typename Block, typename Values, typename Fn>
void for_blocks(Block* blocks, Values* values, int64_t n, int block_elems, Fn fn) {
  for (int64_t b = 0; b < n / block_elems; ++b) fn(blocks + b, values + b * block_elems);
}

}  // namespace

bool is_quantized(DType dtype) {
  switch (dtype) {
    case DType::Q8_0: case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
    case DType::Q8_K: case DType::IQ4_NL: case DType::Q4_K_R16: case DType::Q5_0_R16: case DType::Q8_0_R16:
      return true;
    default:
      return false;
  }
}

void quantize_row(DType dtype, const float* x, void* dst, int64_t n) {
  row_bytes(dtype, n);  // checks whole blocks
  auto run = [&](auto* blocks, auto fn, int elems) { for_blocks(blocks, x, n, elems, fn); };
  switch (dtype) {
    case DType::Q8_0: return run(static_cast<BlockQ8_0*>(dst), [](BlockQ8_0* b, const float* v) { quantize_q8_0(v, b); }, kQK);
    case DType::Q4_0: return run(static_cast<BlockQ4_0*>(dst), [](BlockQ4_0* b, const float* v) { quantize_q4_0(v, b); }, kQK);
    case DType::Q4_1: return run(static_cast<BlockQ4_1*>(dst), [](BlockQ4_1* b, const float* v) { quantize_q4_1(v, b); }, kQK);
    case DType::Q5_0: return run(static_cast<BlockQ5_0*>(dst), [](BlockQ5_0* b, const float* v) { quantize_q5_0(v, b); }, kQK);
    case DType::Q5_1: return run(static_cast<BlockQ5_1*>(dst), [](BlockQ5_1* b, const float* v) { quantize_q5_1(v, b); }, kQK);
    case DType::IQ4_NL: return run(static_cast<BlockIQ4_NL*>(dst), [](BlockIQ4_NL* b, const float* v) { quantize_iq4_nl(v, b); }, kQK);
    case DType::Q2_K: return run(static_cast<BlockQ2_K*>(dst), [](BlockQ2_K* b, const float* v) { quantize_q2_k(v, b); }, kQKK);
    case DType::Q3_K: return run(static_cast<BlockQ3_K*>(dst), [](BlockQ3_K* b, const float* v) { quantize_q3_k(v, b); }, kQKK);
    case DType::Q4_K: return run(static_cast<BlockQ4_K*>(dst), [](BlockQ4_K* b, const float* v) { quantize_q4_k(v, b); }, kQKK);
    case DType::Q5_K: return run(static_cast<BlockQ5_K*>(dst), [](BlockQ5_K* b, const float* v) { quantize_q5_k(v, b); }, kQKK);
    case DType::Q6_K: return run(static_cast<BlockQ6_K*>(dst), [](BlockQ6_K* b, const float* v) { quantize_q6_k(v, b); }, kQKK);
    case DType::Q8_K: return run(static_cast<BlockQ8_K*>(dst), [](BlockQ8_K* b, const float* v) { quantize_q8_k(v, b); }, kQKK);
    default: fail("cannot quantize to {}: not a block format", dtype_name(dtype));
  }
}

void dequantize_row(DType dtype, const void* src, float* y, int64_t n) {
  row_bytes(dtype, n);
  auto run = [&](const auto* blocks, auto fn, int elems) { for_blocks(blocks, y, n, elems, fn); };
  switch (dtype) {
    case DType::Q8_0: return run(static_cast<const BlockQ8_0*>(src), dequantize_q8_0, kQK);
    case DType::Q4_0: return run(static_cast<const BlockQ4_0*>(src), dequantize_q4_0, kQK);
    case DType::Q4_1: return run(static_cast<const BlockQ4_1*>(src), dequantize_q4_1, kQK);
    case DType::Q5_0: return run(static_cast<const BlockQ5_0*>(src), dequantize_q5_0, kQK);
    case DType::Q5_1: return run(static_cast<const BlockQ5_1*>(src), dequantize_q5_1, kQK);
    case DType::IQ4_NL: return run(static_cast<const BlockIQ4_NL*>(src), dequantize_iq4_nl, kQK);
    case DType::Q2_K: return run(static_cast<const BlockQ2_K*>(src), dequantize_q2_k, kQKK);
    case DType::Q3_K: return run(static_cast<const BlockQ3_K*>(src), dequantize_q3_k, kQKK);
    case DType::Q4_K: return run(static_cast<const BlockQ4_K*>(src), dequantize_q4_k, kQKK);
    case DType::Q5_K: return run(static_cast<const BlockQ5_K*>(src), dequantize_q5_k, kQKK);
    case DType::Q6_K: return run(static_cast<const BlockQ6_K*>(src), dequantize_q6_k, kQKK);
    case DType::Q8_K: return run(static_cast<const BlockQ8_K*>(src), dequantize_q8_k, kQKK);
    default: fail("cannot dequantize {}: not a block format", dtype_name(dtype));
  }
}

}  // namespace dseek
