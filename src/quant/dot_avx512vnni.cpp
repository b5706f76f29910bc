// AVX-512 quantized dot kernels with VNNI (vpdpbusd, vpdpwssd).
// GCC 12 flags the intrinsics' own _mm*_undefined_* idiom when inlined (its bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <type_traits>

#include "kernels/thread_pool.h"

#include "quant/dot.h"

#define DSEEK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define DSEEK_INLINE DSEEK_TARGET inline __attribute__((always_inline))
#define DSEEK_VNNI 1

namespace dseek::quant::avx512vnni {

#include "quant/dot_avx512.inc"
#include "quant/gemm_vnni.inc"
#include "quant/interleaved_vnni.inc"

}  // namespace dseek::quant::avx512vnni
