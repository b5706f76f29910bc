// AVX-512 kernels: the vector API below (16 F32 lanes) under the bodies in matmul_simd.inc.
// GCC 12 flags the intrinsics' own _mm*_undefined_* idiom when inlined (its bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/matmul_impl.h"
#include "kernels/thread_pool.h"

#define DSEEK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define DSEEK_INLINE DSEEK_TARGET inline __attribute__((always_inline))

namespace dseek::avx512 {

using V = __m512;
constexpr int kLanes = 16;
// Rows of x per register tile: 12 x 2 accumulators, 2 weight vectors and a broadcast of 32 registers.
constexpr int kTileRows = 12;
// Rows of x per streaming pass: 6 x 4 accumulators, 4 weight vectors and one of x.
constexpr int kPassRows = 6;

DSEEK_INLINE __mmask16 first(int n) { return static_cast<__mmask16>((1u << n) - 1); }

DSEEK_INLINE V zero() { return _mm512_setzero_ps(); }
DSEEK_INLINE V broadcast(float a) { return _mm512_set1_ps(a); }
DSEEK_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
DSEEK_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
DSEEK_INLINE float reduce(V v) { return _mm512_reduce_add_ps(v); }

// Loads and stores of the first n < kLanes lanes take a count.
DSEEK_INLINE V load(const float* p) { return _mm512_loadu_ps(p); }
DSEEK_INLINE V load(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
DSEEK_INLINE void store(float* p, V v) { _mm512_storeu_ps(p, v); }
DSEEK_INLINE void store(float* p, V v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }

DSEEK_INLINE V load_weights(const float* p) { return load(p); }
DSEEK_INLINE V load_weights(const float* p, int n) { return load(p, n); }

DSEEK_INLINE V load_weights(const F16* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
DSEEK_INLINE V load_weights(const F16* p, int n) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first(n), p)); }

DSEEK_INLINE V bf16_to_f32(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
DSEEK_INLINE V load_weights(const Bf16* p) { return bf16_to_f32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
DSEEK_INLINE V load_weights(const Bf16* p, int n) { return bf16_to_f32(_mm256_maskz_loadu_epi16(first(n), p)); }

// E4M3 bits seeeemmm become F16 bits seeeemmm0000000 (exponent rebiased by 8 in value: kE4m3Unit).
DSEEK_INLINE V e4m3_to_f32(__m128i b) {
  __m256i h = _mm256_slli_epi16(_mm256_cvtepi8_epi16(b), 7);
  return _mm512_cvtph_ps(_mm256_and_si256(h, _mm256_set1_epi16(static_cast<short>(0xbf80))));
}
DSEEK_INLINE V load_weights(const E4m3* p) { return e4m3_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
DSEEK_INLINE V load_weights(const E4m3* p, int n) { return e4m3_to_f32(_mm_maskz_loadu_epi8(first(n), p)); }

// In-place transpose of a 16 x 16 tile held as 16 row vectors.
DSEEK_INLINE void transpose(V r[16]) {
  V t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4g + c] holds, in 128-bit lane L, column 4L + c of rows 4g..4g+3.
  V u[16];
  for (int g = 0; g < 16; g += 4) {
    __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
    __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
    u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int c = 0; c < 4; ++c) {
    V v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
    V w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
    r[4 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
  }
}

#include "kernels/matmul_simd.inc"

// ---- Opt-in BF16 activations: x and W in BF16, products summed in F32 by vdpbf16ps, which
// does twice the multiply-adds of an F32 FMA. Streaming takes BF16 weights as stored; prefill
// panels hold BF16 pairs of consecutive columns of K, one per F32 word, as vdpbf16ps pairs them.

#define DSEEK_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

namespace {

// 32 F32 values, lo then hi, as BF16 (nearest even).
DSEEK_TARGET_BF16 inline __attribute__((always_inline)) V round_bf16(V lo, V hi) {
  return reinterpret_cast<V>(_mm512_cvtne2ps_pbh(hi, lo));
}

// pack_panel in BF16 pairs: word (k / 2) * kPanel + j of out holds W[n0 + j, k .. k + 1]; an
// odd last column pairs with zero.
template <typename T>
DSEEK_TARGET_BF16 void pack_panel_bf16(const Weight& w, int64_t n0, int64_t rows, float* out) {
  for (int64_t k = 0; k < w.cols; k += 2 * kLanes) {
    int left = static_cast<int>(std::min<int64_t>(2 * kLanes, w.cols - k));
    int pairs = (left + 1) / 2;
    for (int half = 0; half < kPanel / kLanes; ++half) {
      V v[kLanes];
      for (int j = 0; j < kLanes; ++j) {
        int64_t r = half * kLanes + j;
        if (r >= rows) {
          v[j] = zero();
          continue;
        }
        const T* p = weight_row<T>(w, n0 + r) + k;
        __builtin_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBytes);
        V lo = left >= kLanes ? load_weights(p) : load_weights(p, left), hi = zero();
        if (left == 2 * kLanes) hi = load_weights(p + kLanes);
        else if (left > kLanes) hi = load_weights(p + kLanes, left - kLanes);
        if constexpr (std::is_same_v<T, E4m3>) {
          lo = mul(lo, broadcast(e4m3_scale(w, n0 + r, k)));
          if (left > kLanes) hi = mul(hi, broadcast(e4m3_scale(w, n0 + r, k + kLanes)));
        }
        v[j] = round_bf16(lo, hi);
      }
      transpose(v);
      for (int t = 0; t < kLanes; ++t)
        if (t < pairs) store(out + (k / 2 + t) * kPanel + half * kLanes, v[t]);
    }
  }
}

// tile() on BF16 pairs, x packed by pack_x in pairs too.
template <int MR>
DSEEK_TARGET_BF16 void tile_bf16(const float* x, const float* panel, int64_t pairs, float* y, int64_t ldy, int cols,
                                 bool accumulate) {
  V acc[MR][2];
  load_tile(acc, y, ldy, cols, accumulate);
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh b0 = reinterpret_cast<__m512bh>(load(panel + p * kPanel));
    __m512bh b1 = reinterpret_cast<__m512bh>(load(panel + p * kPanel + kLanes));
    for (int i = 0; i < MR; ++i) {
      __m512bh a = reinterpret_cast<__m512bh>(broadcast(x[p * kTileRows + i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
    }
  }
  store_tile(acc, y, ldy, cols);
}

template <size_t... I>
constexpr std::array<TileFn, sizeof...(I)> make_bf16_tiles(std::index_sequence<I...>) {
  return {&tile_bf16<static_cast<int>(I) + 1>...};
}
constexpr auto kBf16Tiles = make_bf16_tiles(std::make_index_sequence<kTileRows>());

// Rows [r0, r1) of x [m, K] as BF16 rows ldx >= K apart, zero past K.
DSEEK_TARGET_BF16 void round_rows(const float* x, int64_t K, int64_t ldx, int64_t r0, int64_t r1, uint16_t* out) {
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t k = 0; k < ldx; k += 2 * kLanes) {
      const float* p = x + r * K + k;
      int left = static_cast<int>(std::clamp<int64_t>(K - k, 0, 2 * kLanes));
      V lo = left >= kLanes ? load(p) : load(p, left), hi = zero();
      if (left == 2 * kLanes) hi = load(p + kLanes);
      else if (left > kLanes) hi = load(p + kLanes, left - kLanes);
      int n = static_cast<int>(std::min<int64_t>(2 * kLanes, ldx - k));
      __mmask32 mask = n == 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << n) - 1);
      _mm512_mask_storeu_epi16(out + r * ldx + k, mask, _mm512_castps_si512(round_bf16(lo, hi)));
    }
  }
}

// The streaming kernel (see F32Dots) on x rounded to BF16, for BF16 weights as stored: rows of x
// are ldx values apart and zero past K, so that only the weights need a mask at the end of K.
struct Bf16Dots {
  using X = Bf16;
  static constexpr int kStep = 2 * kLanes;

  template <bool Full, int R, int MI>
  DSEEK_TARGET_BF16 static inline __attribute__((always_inline)) void step(const Bf16* x, int64_t ldx,
                                                                            const Bf16* w, int64_t ldw,
                                                                            __mmask32 mask, V (&acc)[MI][R]) {
    __m512bh wv[R];
    for (int r = 0; r < R; ++r)
      wv[r] = reinterpret_cast<__m512bh>(Full ? _mm512_loadu_si512(w + r * ldw)
                                              : _mm512_maskz_loadu_epi16(mask, w + r * ldw));
    for (int i = 0; i < MI; ++i) {
      __m512bh xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + i * ldx));
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_dpbf16_ps(acc[i][r], xv, wv[r]);
    }
  }

  template <int R, int MI>
  DSEEK_TARGET_BF16 static void rows(const Bf16* x, int64_t ldx, int64_t K, const Bf16* w, int64_t ldw, float* y,
                                     int64_t ldy, const Prefetch& ahead) {
    PrefetchPacer pacer(ahead, (K + kStep - 1) / kStep);
    V acc[MI][R];
    for (int i = 0; i < MI; ++i)
      for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + kStep <= K; k += kStep) {
      pacer.step();
      step<true>(x + k, ldx, w + k, ldw, 0, acc);
    }
    if (k < K) step<false>(x + k, ldx, w + k, ldw, static_cast<__mmask32>((1u << (K - k)) - 1), acc);
    for (int i = 0; i < MI; ++i)
      for (int r = 0; r < R; ++r) y[i * ldy + r] = _mm512_reduce_add_ps(acc[i][r]);
  }
};

// matmul_rows on x rounded to BF16, for BF16 weights as stored: vdpbf16ps pairs consecutive rows
// of W. Per pair of rows, vpunpck{l,h}wd interleave their 32 columns into two vectors of pairs,
// and each row of x multiplies them by its broadcast pair of values (word p of a row of xw holds
// x[n = 2p], x[2p + 1]). The unpacks work within 128-bit lanes, so the two accumulators hold
// columns {0-3, 8-11, 16-19, 24-27} and {4-7, 12-15, 20-23, 28-31}: put in order at the store.
template <int MR, bool Full>
DSEEK_TARGET_BF16 void rows_tile_bf16(const uint32_t* xw, int64_t ldx, const Weight& w, int64_t c, int width, float* y) {
  const Bf16* p = weight_row<Bf16>(w, 0) + c;
  const int64_t N = w.rows, ldw = w.row_stride;
  const auto mask = static_cast<__mmask32>((uint64_t{1} << width) - 1);
  V acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = zero();
  for (int64_t n = 0; n < N; n += 2) {
    __m512i first, second = _mm512_setzero_si512();  // an odd last row pairs with zeros, as x does
    if (Full) first = _mm512_loadu_si512(p + n * ldw);
    else first = _mm512_maskz_loadu_epi16(mask, p + n * ldw);
    if (n + 1 < N) second = Full ? _mm512_loadu_si512(p + (n + 1) * ldw) : _mm512_maskz_loadu_epi16(mask, p + (n + 1) * ldw);
    const auto lo = reinterpret_cast<__m512bh>(_mm512_unpacklo_epi16(first, second));
    const auto hi = reinterpret_cast<__m512bh>(_mm512_unpackhi_epi16(first, second));
    for (int i = 0; i < MR; ++i) {
      const auto a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(xw[i * ldx + n / 2])));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, lo);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, hi);
    }
  }
  const __m512i order0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i order1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int i = 0; i < MR; ++i) {
    const V lanes0 = acc[i][0], lanes1 = acc[i][1];
    acc[i][0] = _mm512_permutex2var_ps(lanes0, order0, lanes1);
    acc[i][1] = _mm512_permutex2var_ps(lanes0, order1, lanes1);
  }
  store_tile(acc, y, w.cols, width);
}

using RowsTileBf16Fn = void (*)(const uint32_t*, int64_t, const Weight&, int64_t, int, float*);

template <bool Full, size_t... I>
constexpr std::array<RowsTileBf16Fn, sizeof...(I)> make_rows_tiles_bf16(std::index_sequence<I...>) {
  return {&rows_tile_bf16<static_cast<int>(I) + 1, Full>...};
}

}  // namespace

void matmul_bf16(const float* x, int64_t m, const Weight& w, float* y) {
  if (w.dtype == DType::F32) return matmul(x, m, w, y);  // kept at full precision on purpose
  if (m <= kStreamRows) {
    // Other weight types would need rounding to BF16 first, which does not pay while streaming.
    if (w.dtype != DType::BF16) return matmul(x, m, w, y);
    // Rows a cache line more than a multiple of the step apart, as matmul copies them.
    const int64_t ldx = (w.cols + Bf16Dots::kStep - 1) / Bf16Dots::kStep * Bf16Dots::kStep + 32;
    auto* rounded = reinterpret_cast<uint16_t*>(scratch(2, m * ldx / 2));
    round_rows(x, w.cols, ldx, 0, m, rounded);
    split_stream(w, [&](int64_t begin, int64_t end) {
      stream_rows<Bf16Dots, Bf16>(reinterpret_cast<const Bf16*>(rounded), ldx, m, w, begin, end, y);
    });
    return;
  }
  const int64_t ldx = (w.cols + 1) / 2 * 2;
  std::vector<uint16_t> rounded(m * ldx);
  ThreadPool::global().parallel_for(
      m, [&](int, int64_t r0, int64_t r1) { round_rows(x, w.cols, ldx, r0, r1, rounded.data()); });
  by_stored_type(w.dtype, [&]<typename T>() {
    prefill(reinterpret_cast<const float*>(rounded.data()), ldx / 2, ldx / 2, m, w, &pack_panel_bf16<T>,
            kBf16Tiles.data(), y);
  });
}

void round_to_bf16(const float* x, int64_t n, uint16_t* out) { round_rows(x, n, n, 0, 1, out); }

void matmul_rows_bf16(const float* x, int64_t m, const Weight& w, float* y) {
  // Other weight types would need rounding to BF16 first; F32 weights stay exact on purpose.
  if (w.dtype != DType::BF16) return matmul_rows(x, m, w, y);
  static constexpr auto full = make_rows_tiles_bf16<true>(std::make_index_sequence<kTileRows>());
  static constexpr auto part = make_rows_tiles_bf16<false>(std::make_index_sequence<kTileRows>());
  const int64_t ldx = (w.rows + 1) / 2 * 2;  // BF16 values per row of x: whole pairs, zero past N
  auto* rounded = reinterpret_cast<uint16_t*>(scratch(2, m * ldx / 2));  // this thread's, shared with the workers
  round_rows(x, w.rows, ldx, 0, m, rounded);
  const auto* words = reinterpret_cast<const uint32_t*>(rounded);
  // As matmul_rows: column chunks major, rows of x in near-equal blocks.
  const int64_t chunks = (w.cols + kPanel - 1) / kPanel, blocks = (m + kTileRows - 1) / kTileRows;
  ThreadPool::global().parallel_for(chunks * blocks, [&](int, int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t c = (u / blocks) * kPanel, block = u % blocks, i = m * block / blocks;
      const int width = static_cast<int>(std::min<int64_t>(kPanel, w.cols - c));
      const int rows = static_cast<int>(m * (block + 1) / blocks - i);
      (width == kPanel ? full : part)[rows - 1](words + i * ldx / 2, ldx / 2, w, c, width, y + i * w.cols + c);
    }
  });
}

}  // namespace dseek::avx512
