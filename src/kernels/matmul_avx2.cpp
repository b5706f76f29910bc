// AVX2 kernels: the vector API below (8 F32 lanes) under the bodies in matmul_simd.inc.
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

#define DSEEK_TARGET __attribute__((target("avx2,fma,f16c")))
#define DSEEK_INLINE DSEEK_TARGET inline __attribute__((always_inline))

namespace dseek::avx2 {

using V = __m256;
constexpr int kLanes = 8;
// Rows of x per register tile: 6 x 2 accumulators, 2 weight vectors and a broadcast of 16 registers.
constexpr int kTileRows = 6;
// Rows of x per streaming pass.
constexpr int kPassRows = 4;

DSEEK_INLINE __m256i first(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }

DSEEK_INLINE V zero() { return _mm256_setzero_ps(); }
DSEEK_INLINE V broadcast(float a) { return _mm256_set1_ps(a); }
DSEEK_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
DSEEK_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
DSEEK_INLINE float reduce(V v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Loads and stores of the first n < kLanes lanes take a count.
DSEEK_INLINE V load(const float* p) { return _mm256_loadu_ps(p); }
DSEEK_INLINE V load(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
DSEEK_INLINE void store(float* p, V v) { _mm256_storeu_ps(p, v); }
DSEEK_INLINE void store(float* p, V v, int n) { _mm256_maskstore_ps(p, first(n), v); }

// AVX2 has no masked 8- or 16-bit loads: partial vectors go through a zeroed copy.
template <typename T>
DSEEK_INLINE __m128i load_partial_bytes(const T* p, int n) {
  alignas(16) unsigned char buf[16] = {};
  std::memcpy(buf, p, n * sizeof(T));
  return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
}

DSEEK_INLINE V load_weights(const float* p) { return load(p); }
DSEEK_INLINE V load_weights(const float* p, int n) { return load(p, n); }

DSEEK_INLINE V load_weights(const F16* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
DSEEK_INLINE V load_weights(const F16* p, int n) { return _mm256_cvtph_ps(load_partial_bytes(p, n)); }

DSEEK_INLINE V bf16_to_f32(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
DSEEK_INLINE V load_weights(const Bf16* p) { return bf16_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
DSEEK_INLINE V load_weights(const Bf16* p, int n) { return bf16_to_f32(load_partial_bytes(p, n)); }

// E4M3 bits seeeemmm become F16 bits seeeemmm0000000 (exponent rebiased by 8 in value: kE4m3Unit).
DSEEK_INLINE V e4m3_to_f32(__m128i b) {
  __m128i h = _mm_slli_epi16(_mm_cvtepi8_epi16(b), 7);
  return _mm256_cvtph_ps(_mm_and_si128(h, _mm_set1_epi16(static_cast<short>(0xbf80))));
}
DSEEK_INLINE V load_weights(const E4m3* p) { return e4m3_to_f32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
DSEEK_INLINE V load_weights(const E4m3* p, int n) { return e4m3_to_f32(load_partial_bytes(p, n)); }

// In-place transpose of an 8 x 8 tile held as 8 row vectors.
DSEEK_INLINE void transpose(V r[8]) {
  V t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4g + c] holds, in 128-bit lane L, column 4L + c of rows 4g..4g+3.
  V u[8];
  for (int g = 0; g < 8; g += 4) {
    u[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
    u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xee);
    u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
    u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xee);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

#include "kernels/matmul_simd.inc"

}  // namespace dseek::avx2
