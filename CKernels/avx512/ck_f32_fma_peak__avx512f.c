// Measures f32 FMA throughput with 512-bit vectors: 12 independent zmm accumulators hide the
// FMA latency (the AVX-512F counterpart of ck_f32_fma_peak__avx2_fma.c; on CPUs with two
// 512-bit FMA pipes, or Zen 5, it measures twice the AVX2 figure, on Zen 4 the same).
#include "ck_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
float ck_f32_fma_peak_probe__avx512f(size_t iterations) {
  __m512 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(1.0f + 0.001f * (float)i);
  const __m512 m = _mm512_set1_ps(0.999999f);
  const __m512 c = _mm512_set1_ps(1e-7f);
  for (size_t it = 0; it < iterations; it++) {
    for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}
#else
float ck_f32_fma_peak_probe__avx512f(size_t iterations) { (void)iterations; return 0.0f; }
#endif
