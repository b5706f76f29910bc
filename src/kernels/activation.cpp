#include "kernels/activation.h"

// GCC 12 flags the intrinsics' own _mm*_undefined_* idiom when inlined (its bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu.h"

namespace dseek {
namespace {

void silu_mul_scalar(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

float softmax_block_scalar(float* s, int64_t n, float scale, float& max) {
  for (int64_t i = 0; i < n; ++i) max = std::max(max, s[i] *= scale);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (s[i] = std::exp(s[i] - max));
  return static_cast<float>(sum);
}

#define DSEEK_AVX512 __attribute__((target("avx512f")))

// exp(x) = 2^k · exp(r), k = round(x / ln 2), |r| <= ln 2 / 2, with ln 2 split in two so that
// r is exact, and exp(r) by Cephes' minimax polynomial for expf (error about 1 ulp).
// vscalefps applies 2^k; x is clamped to where the result is 0 or infinity already, so that
// infinite x gives a limit, not NaN.
DSEEK_AVX512 inline __m512 exp_avx512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, k);
}

DSEEK_AVX512 void silu_mul_avx512(float* g, const float* u, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(g + i);
    __m512 gate = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
    _mm512_storeu_ps(g + i, _mm512_mul_ps(gate, _mm512_loadu_ps(u + i)));
  }
  if (i < n) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(tail, g + i);
    __m512 gate = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
    _mm512_mask_storeu_ps(g + i, tail, _mm512_mul_ps(gate, _mm512_maskz_loadu_ps(tail, u + i)));
  }
}

// Two passes: scale and find the largest, then exponentiate and sum (16 float sums).
DSEEK_AVX512 float softmax_block_avx512(float* s, int64_t n, float scale, float& max) {
  const __mmask16 tail = static_cast<__mmask16>((1u << (n % 16)) - 1);
  const int64_t whole = n - n % 16;
  const __m512 factor = _mm512_set1_ps(scale);
  __m512 largest = _mm512_set1_ps(max);
  for (int64_t i = 0; i < whole; i += 16) {
    const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(s + i), factor);
    _mm512_storeu_ps(s + i, x);
    largest = _mm512_max_ps(largest, x);
  }
  if (tail) {
    const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, s + whole), factor);
    _mm512_mask_storeu_ps(s + whole, tail, x);
    largest = _mm512_mask_max_ps(largest, tail, largest, x);
  }
  max = _mm512_reduce_max_ps(largest);
  const __m512 top = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < whole; i += 16) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(s + i), top));
    _mm512_storeu_ps(s + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (tail) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + whole), top));
    _mm512_mask_storeu_ps(s + whole, tail, e);
    sum = _mm512_mask_add_ps(sum, tail, sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

double sum_of_squares_scalar(const float* x, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

DSEEK_AVX512 double sum_of_squares_avx512(const float* x, int64_t n) {
  __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), b = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    low = _mm512_fmadd_pd(a, a, low);
    high = _mm512_fmadd_pd(b, b, high);
  }
  double sum = _mm512_reduce_add_pd(_mm512_add_pd(low, high));
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

}  // namespace

double sum_of_squares(const float* x, int64_t n) {
  if (active_isa() == Isa::Avx512) return sum_of_squares_avx512(x, n);
  return sum_of_squares_scalar(x, n);
}

void silu_mul(float* g, const float* u, int64_t n) {
  if (active_isa() == Isa::Avx512) return silu_mul_avx512(g, u, n);
  silu_mul_scalar(g, u, n);
}

float softmax_block(float* s, int64_t n, float scale, float& max) {
  if (active_isa() == Isa::Avx512) return softmax_block_avx512(s, n, scale, max);
  return softmax_block_scalar(s, n, scale, max);
}

}  // namespace dseek
