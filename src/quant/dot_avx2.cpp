// AVX2 quantized dot kernels: 32 int8 values per register, one block of a 32-value format,
// one 32-value sub-block (Q4_K, Q5_K) or two 16-value ones (Q6_K) at a time. Same scheme as dot_avx512.inc: unsigned weight
// levels x signed activations with vpmaddubsw, sub-block scales with vpmaddwd.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "quant/dot.h"

#define DSEEK_TARGET __attribute__((target("avx2,fma,f16c")))
#define DSEEK_INLINE DSEEK_TARGET inline __attribute__((always_inline))

namespace dseek::quant::avx2 {
namespace {

DSEEK_INLINE __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Pair sums of u8 x s8, weighted by the int16 scale of each lane, added to acc.
DSEEK_INLINE __m256i dot_scaled(__m256i acc, __m256i u, __m256i s, __m256i scale16) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16));
}

DSEEK_INLINE float reduce(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

template <typename Block>
DSEEK_INLINE const Block* act_row(const void* x, size_t x_stride, int r) {
  return reinterpret_cast<const Block*>(static_cast<const char*>(x) + r * x_stride);
}

// ---- 32-value formats (dot_q32.inc): a block per register, the scales of 8 blocks and the
// offset or min on their sums applied at once. ----
#include "quant/dot_q32.inc"

DSEEK_INLINE __m256i nibbles(const uint8_t* qs) {  // values 0..15 low nibbles, 16..31 high ones
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), low4), _mm_and_si128(raw, low4));
}
DSEEK_INLINE __m256i fifth_bits(const uint8_t* qh) {  // 16 where bit i of the u32 is set
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  // Byte i takes byte i / 8 of the mask, then tests its bit i % 8.
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                              2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}
// Levels as dot_q32.inc has them: signed for Q8_0 and IQ4_NL, else unsigned as stored.
DSEEK_INLINE __m256i levels(const BlockQ8_0& b) { return load256(b.qs); }
DSEEK_INLINE __m256i levels(const BlockQ4_0& b) { return nibbles(b.qs); }
DSEEK_INLINE __m256i levels(const BlockQ4_1& b) { return nibbles(b.qs); }
DSEEK_INLINE __m256i levels(const BlockQ5_0& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
DSEEK_INLINE __m256i levels(const BlockQ5_1& b) { return _mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)); }
DSEEK_INLINE __m256i levels(const BlockIQ4_NL& b) {  // a byte shuffle looks the codebook up
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  return _mm256_shuffle_epi8(table, nibbles(b.qs));
}

template <typename Block, int NX>
DSEEK_TARGET void dot_q32(int64_t nb, const void* wv, const void* xv, size_t x_stride, float* y, int64_t y_stride) {
  const auto* w = static_cast<const Block*>(wv);
  constexpr int kOffset = kLevelOffset<Block>;
  const __m256i ones = _mm256_set1_epi16(1);
  const int8_t* xq[NX];
  const float* xd[NX];
  const int32_t* xsum[NX];
  __m256 acc[NX][2], acc_sum[NX];  // two chains: consecutive blocks alternate
  for (int r = 0; r < NX; ++r) {
    const Q8ARow row(static_cast<const char*>(xv) + r * x_stride, kQK * nb);
    xq[r] = row.qs;
    xd[r] = row.d;
    xsum[r] = row.sum;
    acc[r][0] = acc[r][1] = acc_sum[r] = _mm256_setzero_ps();
  }
  for (int64_t g = 0; g < nb; g += 8) {
    const int n = static_cast<int>(std::min<int64_t>(8, nb - g));
    const __m256 dw = block_halves(w + g, n, &Block::d), factor = sum_factor<kOffset>(w + g, n, dw);
    __m256 scale[NX];
    for (int r = 0; r < NX; ++r) {
      const __m256 dx = _mm256_loadu_ps(xd[r] + g);
      scale[r] = _mm256_mul_ps(dw, dx);
      if constexpr (kHasMin<Block> || kOffset != 0)
        acc_sum[r] = _mm256_fmadd_ps(_mm256_mul_ps(factor, dx), _mm256_cvtepi32_ps(load256(xsum[r] + g)), acc_sum[r]);
    }
    for (int b = 0; b < n; ++b) {
      const __m256i v = levels(w[g + b]), u = kSignedLevels<Block> ? _mm256_abs_epi8(v) : v;
      const __m256i lane = _mm256_set1_epi32(b);
      for (int r = 0; r < NX; ++r) {
        __m256i x = load256(xq[r] + kQK * (g + b));
        if constexpr (kSignedLevels<Block>) x = _mm256_sign_epi8(x, v);
        const __m256i sum = _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), ones);
        acc[r][b % 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_permutevar8x32_ps(scale[r], lane), acc[r][b % 2]);
      }
    }
  }
  for (int r = 0; r < NX; ++r) y[r * y_stride] = reduce(_mm256_add_ps(acc[r][0], acc[r][1])) + reduce(acc_sum[r]);
}

template <bool kFifthBit, typename Block, int NX>
DSEEK_TARGET void dot_k4(int64_t nb, const void* wv, const void* xv, size_t x_stride, float* y, int64_t y_stride) {
  const auto* w = static_cast<const Block*>(wv);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256 acc[NX], acc_min[NX];
  for (int r = 0; r < NX; ++r) acc[r] = acc_min[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const float d = _cvtsh_ss(w[b].d), dmin = _cvtsh_ss(w[b].dmin);
    uint8_t sc[8], mn[8];
    for (int s = 0; s < 8; ++s) k4_scale_min(w[b].scales, s, sc[s], mn[s]);
    __m128i mins8;
    std::memcpy(&mins8, mn, 8);
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));  // each min twice
    __m256i q[8];
    __m256i high = _mm256_setzero_si256();
    if constexpr (kFifthBit) high = load256(w[b].qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = load256(w[b].qs + 32 * c);
      q[2 * c] = _mm256_and_si256(raw, low4);
      q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    }
    if constexpr (kFifthBit)
      for (int s = 0; s < 8; ++s) {
        const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << s));
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(high, bit), bit);
        q[s] = _mm256_or_si256(q[s], _mm256_and_si256(set, _mm256_set1_epi8(16)));
      }
    for (int r = 0; r < NX; ++r) {
      const BlockQ8_K* x = act_row<BlockQ8_K>(xv, x_stride, r) + b;
      __m256i sum = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s)
        sum = dot_scaled(sum, q[s], load256(x->qs + 32 * q8k_slot(kBlockType<Block>, s)), _mm256_set1_epi16(sc[s]));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * x->d), acc[r]);
      const __m256i mins = _mm256_madd_epi16(load256(x->bsums), mins16);
      acc_min[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(dmin * x->d), acc_min[r]);
    }
  }
  for (int r = 0; r < NX; ++r) y[r * y_stride] = reduce(acc[r]) - reduce(acc_min[r]);
}

// Register 4h + j holds values 128h + 32j + [0, 32): sub-blocks 8h + 2j (low half) and 8h + 2j + 1.
template <int NX>
DSEEK_TARGET void dot_q6_k(int64_t nb, const void* wv, const void* xv, size_t x_stride, float* y, int64_t y_stride) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
  __m256 acc[NX];
  for (int r = 0; r < NX; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const float d = _cvtsh_ss(w[b].d);
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    __m256i q[8], scale[8];
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(w[b].ql + 64 * h), ql1 = load256(w[b].ql + 64 * h + 32);
      const __m256i qh = load256(w[b].qh + 32 * h);
      q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45));
      q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                     _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
    }
    for (int c = 0; c < 8; ++c)
      scale[c] = _mm256_set_m128i(_mm_set1_epi16(w[b].scales[2 * c + 1]), _mm_set1_epi16(w[b].scales[2 * c]));
    for (int r = 0; r < NX; ++r) {
      const BlockQ8_K* x = act_row<BlockQ8_K>(xv, x_stride, r) + b;
      __m256i sum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) sum = dot_scaled(sum, q[c], load256(x->qs + 32 * c), scale[c]);
      // Levels are stored + 32: subtract 32 * Σ scale * (16-value activation sum).
      sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(load256(x->bsums), scales16), 5));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * x->d), acc[r]);
    }
  }
  for (int r = 0; r < NX; ++r) y[r * y_stride] = reduce(acc[r]);
}

// ---- Q2_K / Q3_K: register 4h + j holds values 128h + 32j + [0, 32), the 2-bit fields at
// bits 2j of qs[32h + l]: sub-blocks 8h + 2j and 8h + 2j + 1 of 16 values. ----

DSEEK_INLINE __m256i crumbs(const uint8_t* qs, int c) {
  return _mm256_and_si256(_mm256_srl_epi16(load256(qs + 32 * (c / 4)), _mm_cvtsi32_si128(2 * (c % 4))), _mm256_set1_epi8(3));
}
// int16 lanes 0..7 take the scale of sub-block 2c, lanes 8..15 that of 2c + 1.
DSEEK_INLINE __m256i pair_scale(int lo, int hi) { return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(hi)), _mm_set1_epi16(static_cast<short>(lo))); }

template <int NX>
DSEEK_TARGET void dot_q2_k(int64_t nb, const void* wv, const void* xv, size_t x_stride, float* y, int64_t y_stride) {
  const auto* w = static_cast<const BlockQ2_K*>(wv);
  __m256 acc[NX], acc_min[NX];
  for (int r = 0; r < NX; ++r) acc[r] = acc_min[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const float d = _cvtsh_ss(w[b].d), dmin = _cvtsh_ss(w[b].dmin);
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f)));
    __m256i q[8], scale[8];
    for (int c = 0; c < 8; ++c) {
      q[c] = crumbs(w[b].qs, c);
      scale[c] = pair_scale(w[b].scales[2 * c] & 15, w[b].scales[2 * c + 1] & 15);
    }
    for (int r = 0; r < NX; ++r) {
      const BlockQ8_K* x = act_row<BlockQ8_K>(xv, x_stride, r) + b;
      __m256i sum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) sum = dot_scaled(sum, q[c], load256(x->qs + 32 * c), scale[c]);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * x->d), acc[r]);
      const __m256i mins = _mm256_madd_epi16(load256(x->bsums), mins16);
      acc_min[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(dmin * x->d), acc_min[r]);
    }
  }
  for (int r = 0; r < NX; ++r) y[r * y_stride] = reduce(acc[r]) - reduce(acc_min[r]);
}

// Q3_K: the third bit of value 32j' + l is bit j' of hmask[l]; levels are stored + 4.
template <int NX>
DSEEK_TARGET void dot_q3_k(int64_t nb, const void* wv, const void* xv, size_t x_stride, float* y, int64_t y_stride) {
  const auto* w = static_cast<const BlockQ3_K*>(wv);
  __m256 acc[NX];
  for (int r = 0; r < NX; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const float d = _cvtsh_ss(w[b].d);
    const __m128i packed = q3k_scales_sse2(w[b].scales);
    const __m256i scales16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(packed), _mm256_set1_epi16(32));
    const __m256i both = _mm256_broadcastsi128_si256(packed);
    const __m256i hmask = load256(w[b].hmask);
    __m256i q[8], scale[8];
    for (int c = 0; c < 8; ++c) {
      const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << c));
      const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), bit), _mm256_set1_epi8(4));
      q[c] = _mm256_or_si256(crumbs(w[b].qs, c), high);
      // Byte 2c of the scales to the low half's words, 2c + 1 to the high half's (0x80: zero).
      const __m256i pick = pair_scale(0x8000 | (2 * c), 0x8000 | (2 * c + 1));
      scale[c] = _mm256_sub_epi16(_mm256_shuffle_epi8(both, pick), _mm256_set1_epi16(32));
    }
    for (int r = 0; r < NX; ++r) {
      const BlockQ8_K* x = act_row<BlockQ8_K>(xv, x_stride, r) + b;
      __m256i sum = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) sum = dot_scaled(sum, q[c], load256(x->qs + 32 * c), scale[c]);
      sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(load256(x->bsums), scales16), 2));
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d * x->d), acc[r]);
    }
  }
  for (int r = 0; r < NX; ++r) y[r * y_stride] = reduce(acc[r]);
}

// ---- activations: the scalar reference's arithmetic, 8 values at a time ----

DSEEK_INLINE int hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1)));
}

DSEEK_INLINE float absmax(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
}

// 32 values: x * id rounded to nearest even (as lrintf) into 32 int8; returns the int32 sums of
// values 0..15 and 16..31.
DSEEK_INLINE void round32(const float* x, float id, int8_t* out, int sums[2]) {
  const __m256 vid = _mm256_set1_ps(id);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), vid));
  // packs work within 128-bit lanes: dwords come out as q0a q1a q2a q3a q0b q1b q2b q3b.
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  sums[0] = hsum(_mm256_add_epi32(q[0], q[1]));
  sums[1] = hsum(_mm256_add_epi32(q[2], q[3]));
}

}  // namespace

DSEEK_TARGET void quantize_act_row(DType weight, const float* x, void* out, int64_t k) {
  int sums[2];
  if (uses_q8k(weight)) {
    auto* blocks = static_cast<BlockQ8_K*>(out);
    for (int64_t b = 0; b < k / 256; ++b, x += 256) {
      const float d = absmax(x, 256) / 127, id = d ? 1 / d : 0;
      blocks[b].d = d;
      for (int j = 0; j < 8; ++j) {
        round32(x + 32 * j, id, blocks[b].qs + 32 * q8k_slot(weight, j), sums);
        blocks[b].bsums[2 * j] = static_cast<int16_t>(sums[0]);
        blocks[b].bsums[2 * j + 1] = static_cast<int16_t>(sums[1]);
      }
    }
    return;
  }
  const Q8ARowOut row(out, k);
  pad_q8a_row(row, k);
  for (int64_t b = 0; b < k / 32; ++b, x += 32) {
    const float d = absmax(x, 32) / 127, id = d > 0 ? 1 / d : 0;
    row.d[b] = d;
    round32(x, id, row.qs + 32 * b, sums);
    row.sum[b] = sums[0] + sums[1];
  }
}

namespace {

template <template <int> class K>
void by_rows(int64_t nb, const void* w, const void* x, size_t x_stride, int nx, float* y, int64_t y_stride) {
  switch (nx) {
    case 1: return K<1>::run(nb, w, x, x_stride, y, y_stride);
    case 2: return K<2>::run(nb, w, x, x_stride, y, y_stride);
    case 3: return K<3>::run(nb, w, x, x_stride, y, y_stride);
    default: return K<4>::run(nb, w, x, x_stride, y, y_stride);
  }
}
static_assert(kMaxRows == 4);

template <typename Block>
struct Q32 {
  template <int NX>
  struct K {
    static void run(int64_t nb, const void* w, const void* x, size_t s, float* y, int64_t ys) { dot_q32<Block, NX>(nb, w, x, s, y, ys); }
  };
};
template <int NX>
struct Q4_K {
  static void run(int64_t nb, const void* w, const void* x, size_t s, float* y, int64_t ys) { dot_k4<false, BlockQ4_K, NX>(nb, w, x, s, y, ys); }
};
template <int NX>
struct Q5_K {
  static void run(int64_t nb, const void* w, const void* x, size_t s, float* y, int64_t ys) { dot_k4<true, BlockQ5_K, NX>(nb, w, x, s, y, ys); }
};
template <int NX>
struct Q2_K {
  static void run(int64_t nb, const void* w, const void* x, size_t s, float* y, int64_t ys) { dot_q2_k<NX>(nb, w, x, s, y, ys); }
};
template <int NX>
struct Q3_K {
  static void run(int64_t nb, const void* w, const void* x, size_t s, float* y, int64_t ys) { dot_q3_k<NX>(nb, w, x, s, y, ys); }
};
template <int NX>
struct Q6_K {
  static void run(int64_t nb, const void* w, const void* x, size_t s, float* y, int64_t ys) { dot_q6_k<NX>(nb, w, x, s, y, ys); }
};

}  // namespace

DotFn dot_kernel(DType weight) {
  switch (weight) {
    case DType::Q8_0: return by_rows<Q32<BlockQ8_0>::K>;
    case DType::Q4_0: return by_rows<Q32<BlockQ4_0>::K>;
    case DType::Q4_1: return by_rows<Q32<BlockQ4_1>::K>;
    case DType::Q5_0: return by_rows<Q32<BlockQ5_0>::K>;
    case DType::Q5_1: return by_rows<Q32<BlockQ5_1>::K>;
    case DType::IQ4_NL: return by_rows<Q32<BlockIQ4_NL>::K>;
    case DType::Q2_K: return by_rows<Q2_K>;
    case DType::Q3_K: return by_rows<Q3_K>;
    case DType::Q4_K: return by_rows<Q4_K>;
    case DType::Q5_K: return by_rows<Q5_K>;
    case DType::Q6_K: return by_rows<Q6_K>;
    default: return nullptr;
  }
}

}  // namespace dseek::quant::avx2
